with

source as (

    select * from {{ source_or_empty('raw', 'ga4_traffic_acquisition') }}

),

deduplicated as (

    {{ dedupe_latest(
        'source',
        [
            'date',
            'session_source',
            'session_medium',
            'session_campaign_name',
            'session_default_channel_group',
            'landing_page',
            'device_category',
        ],
        lineage='api',
    ) }}

),

renamed as (

    select
        cast(date as date) as report_date,
        {{ not_set_if_blank('session_source') }} as source,
        {{ not_set_if_blank('session_medium') }} as medium,
        {{ not_set_if_blank('session_campaign_name') }} as campaign,
        nullif(
            nullif(trim(session_default_channel_group), ''), '(not set)'
        ) as ga4_channel_group,
        {{ not_set_if_blank('landing_page') }} as landing_page,
        coalesce(
            nullif(lower(trim(device_category)), ''), '(not set)'
        ) as device_category,
        cast(sessions as {{ dbt.type_bigint() }}) as sessions,
        cast(engaged_sessions as {{ dbt.type_bigint() }}) as engaged_sessions,
        cast(new_users as {{ dbt.type_bigint() }}) as new_users,
        cast(key_events as {{ type_double() }}) as key_events,
        cast(total_revenue as {{ type_double() }}) as revenue,
        {{ ga4_report_flags() }}

    from deduplicated

),

-- every source × medium of the raw report, named and cleaned as in `renamed`: the channel
-- rules run on these pairs, so `renamed` is read once and a date filter on this view
-- reaches the raw table (see macro assign_channel_group)
source_mediums as (

    select distinct
        {{ not_set_if_blank('session_source') }} as source,
        {{ not_set_if_blank('session_medium') }} as medium

    from source

),

channel_grouped as (

    {{ assign_channel_group('renamed', 'source', 'medium', pairs_relation='source_mediums') }}

),

final as (

    select
        report_date,
        -- GA4's own session default channel group wins; the seed rules only fill gaps
        coalesce(ga4_channel_group, channel_group) as channel_group,
        source,
        medium,
        campaign,
        landing_page,
        device_category,
        sessions,
        engaged_sessions,
        new_users,
        key_events,
        revenue,
        is_sampled,
        is_thresholded,
        has_other_row,
        loaded_at

    from channel_grouped

)

select * from final
