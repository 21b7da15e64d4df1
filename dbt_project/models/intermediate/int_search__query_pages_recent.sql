{{ config(materialized='view') }}

with

query_pages_daily as (

    select * from {{ ref('int_search__query_pages_daily') }}

),

last_day as (

    select max(report_date) as report_date from query_pages_daily

),

final as (

    select
        query_pages_daily.search_query,
        query_pages_daily.page_url,
        sum(query_pages_daily.impressions) as impressions,
        sum(query_pages_daily.clicks) as clicks,
        sum(query_pages_daily.avg_position * query_pages_daily.impressions)
        / nullif(sum(query_pages_daily.impressions), 0) as avg_position

    from query_pages_daily
    cross join last_day
    where
        query_pages_daily.report_date
        > {{ dbt.dateadd('day', -28, 'last_day.report_date') }}
    group by query_pages_daily.search_query, query_pages_daily.page_url
    having sum(query_pages_daily.impressions) > 0

)

select * from final
