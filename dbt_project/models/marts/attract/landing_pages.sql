{#
    One row per page path. "_28d" metrics cover the last N days (var flywheel_recent_days,
    default 28) up to the last date each source has data for (GA4 and Search Console lag
    differently), never the wall clock, so rebuilds reproduce.
#}
{% set recent_days = var('flywheel_recent_days', 28) %}

with

traffic as (

    select * from {{ ref('stg_ga4__traffic_acquisition') }}

),

pages as (

    select * from {{ ref('stg_ga4__pages') }}

),

search_analytics as (

    select * from {{ ref('stg_gsc__search_analytics') }}

),

-- the window is the N days up to and including data_through: dates after before_window
-- (cast: dateadd returns a timestamp on some engines, which do not compare it with dates)
traffic_through as (

    select
        max(report_date) as data_through,
        cast(
            {{ dbt.dateadd('day', '-' ~ recent_days, 'max(report_date)') }} as date
        ) as before_window

    from traffic

),

search_through as (

    select
        max(report_date) as data_through,
        cast(
            {{ dbt.dateadd('day', '-' ~ recent_days, 'max(report_date)') }} as date
        ) as before_window

    from search_analytics

),

traffic_recent as (

    select
        traffic.landing_page as page,
        cast(sum(traffic.sessions) as {{ dbt.type_bigint() }}) as sessions_28d,
        cast(sum(traffic.engaged_sessions) as {{ dbt.type_bigint() }}) as engaged_sessions_28d,
        sum(traffic.key_events) as key_events_28d,
        sum(traffic.revenue) as revenue_28d

    from traffic
    cross join traffic_through
    where
        traffic.report_date > traffic_through.before_window
    group by traffic.landing_page

),

page_titles as (

    select
        page_path as page,
        page_title,
        row_number() over (
            partition by page_path
            order by report_date desc, page_views desc, page_title asc
        ) as title_rank

    from pages

),

page_views_recent as (

    select
        pages.page_path as page,
        cast(sum(pages.page_views) as {{ dbt.type_bigint() }}) as page_views_28d

    from pages
    cross join traffic_through
    where
        pages.report_date > traffic_through.before_window
    group by pages.page_path

),

search_recent as (

    select
        search_analytics.page_path as page,
        cast(sum(search_analytics.impressions) as {{ dbt.type_bigint() }})
            as search_impressions_28d,
        cast(sum(search_analytics.clicks) as {{ dbt.type_bigint() }}) as search_clicks_28d,
        {{ safe_divide(
            'sum(search_analytics.avg_position * search_analytics.impressions)',
            'sum(search_analytics.impressions)',
        ) }} as avg_position

    from search_analytics
    cross join search_through
    where
        search_analytics.report_date > search_through.before_window
    group by search_analytics.page_path

),

-- distinct over `union all` rather than `union`: BigQuery has no bare UNION
all_pages as (

    select distinct page_keys.page

    from (
        select landing_page as page from traffic
        union all
        select page_path as page from pages
        union all
        select page_path as page from search_analytics
    ) as page_keys

),

final as (

    select
        all_pages.page,
        page_titles.page_title,
        coalesce(traffic_recent.sessions_28d, 0) as sessions_28d,
        coalesce(traffic_recent.engaged_sessions_28d, 0) as engaged_sessions_28d,
        coalesce(traffic_recent.key_events_28d, 0) as key_events_28d,
        coalesce(traffic_recent.revenue_28d, 0) as revenue_28d,
        coalesce(page_views_recent.page_views_28d, 0) as page_views_28d,
        {{ safe_divide(
            'traffic_recent.engaged_sessions_28d', 'traffic_recent.sessions_28d'
        ) }} as engagement_rate,
        {{ safe_divide(
            'traffic_recent.key_events_28d', 'traffic_recent.sessions_28d'
        ) }} as key_event_rate,
        coalesce(search_recent.search_impressions_28d, 0)
            as search_impressions_28d,
        coalesce(search_recent.search_clicks_28d, 0) as search_clicks_28d,
        {{ safe_divide(
            'search_recent.search_clicks_28d', 'search_recent.search_impressions_28d'
        ) }} as search_ctr_28d,
        search_recent.avg_position,
        traffic_through.data_through as traffic_data_through,
        search_through.data_through as search_data_through

    from all_pages
    cross join traffic_through
    cross join search_through
    left join traffic_recent
        on all_pages.page = traffic_recent.page
    left join page_views_recent
        on all_pages.page = page_views_recent.page
    left join search_recent
        on all_pages.page = search_recent.page
    left join page_titles
        on
            all_pages.page = page_titles.page
            and page_titles.title_rank = 1
    where all_pages.page is not null

)

select * from final
