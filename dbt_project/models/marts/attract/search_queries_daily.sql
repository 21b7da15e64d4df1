{{ incremental_daily_fact() }}

with

search_analytics as (

    select * from {{ ref('stg_gsc__search_analytics') }}
    {% if is_incremental() %}
        where {{ incremental_window('report_date') }}
    {% endif %}

),

final as (

    select
        report_date as date,
        search_query as query,
        page_url as page,
        page_path,
        country,
        device,
        cast(sum(impressions) as {{ dbt.type_bigint() }}) as impressions,
        cast(sum(clicks) as {{ dbt.type_bigint() }}) as clicks,
        {{ safe_divide('sum(clicks)', 'sum(impressions)') }} as ctr,
        -- impression-weighted average position
        {{ safe_divide('sum(avg_position * impressions)', 'sum(impressions)') }}
            as position,
        max(data_state) as data_state

    from search_analytics
    group by
        report_date,
        search_query,
        page_url,
        page_path,
        country,
        device

)

select * from final
