{{ incremental_daily_fact() }}

with

traffic as (

    select * from {{ ref('stg_ga4__traffic_acquisition') }}
    {% if is_incremental() %}
        where {{ incremental_window('report_date') }}
    {% endif %}

),

final as (

    select
        report_date as date,
        channel_group,
        source,
        medium,
        campaign,
        landing_page,
        device_category as device,
        cast(sum(sessions) as {{ dbt.type_bigint() }}) as sessions,
        cast(sum(engaged_sessions) as {{ dbt.type_bigint() }}) as engaged_sessions,
        -- new users of a GA4 row (first sessions): do not add up to site totals
        cast(sum(new_users) as {{ dbt.type_bigint() }}) as new_users,
        sum(key_events) as key_events,
        sum(revenue) as revenue,
        {{ safe_divide('sum(engaged_sessions)', 'sum(sessions)') }}
            as engagement_rate,
        {{ dbt.bool_or('is_sampled') }} as is_sampled,
        {{ dbt.bool_or('is_thresholded') }} as is_thresholded,
        {{ dbt.bool_or('has_other_row') }} as has_other_row

    from traffic
    group by
        report_date,
        channel_group,
        source,
        medium,
        campaign,
        landing_page,
        device_category

)

select * from final
