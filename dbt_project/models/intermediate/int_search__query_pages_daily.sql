{{ config(materialized='view') }}

with

search_analytics as (

    select * from {{ ref('stg_gsc__search_analytics') }}

),

final as (

    select
        report_date,
        search_query,
        page_url,
        cast(sum(clicks) as {{ dbt.type_bigint() }}) as clicks,
        cast(sum(impressions) as {{ dbt.type_bigint() }}) as impressions,
        -- impression-weighted, as Search Console averages position over its own rows
        {{ safe_divide('sum(avg_position * impressions)', 'sum(impressions)') }}
            as avg_position

    from search_analytics
    group by report_date, search_query, page_url

)

select * from final
