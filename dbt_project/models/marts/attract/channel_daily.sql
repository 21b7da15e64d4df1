{#
    Date × channel group, joining GA4 sessions, CRM leads and customers, CRM order revenue
    and ad spend on the same channel grouping (GA4's default channel groups; CRM contacts
    and ad spend are grouped by the seed `channel_groups`). The CRM measures come by the
    buyer's acquisition channel from int_channel_daily__crm.
#}
with

traffic as (

    select * from {{ ref('stg_ga4__traffic_acquisition') }}

),

crm_daily as (

    select * from {{ ref('int_channel_daily__crm') }}

),

ad_spend as (

    select * from {{ ref('stg_ads__ad_spend') }}

),

traffic_daily as (

    select
        report_date as date,
        channel_group,
        cast(sum(sessions) as {{ dbt.type_bigint() }}) as sessions,
        cast(sum(new_users) as {{ dbt.type_bigint() }}) as new_users,
        sum(revenue) as ga4_revenue

    from traffic
    group by report_date, channel_group

),

spend_daily as (

    select
        spend_date as date,
        channel_group,
        sum(spend) as ad_spend,
        cast(sum(impressions) as {{ dbt.type_bigint() }}) as ad_impressions,
        cast(sum(clicks) as {{ dbt.type_bigint() }}) as ad_clicks

    from ad_spend
    group by spend_date, channel_group

),

-- distinct over `union all` rather than `union`: BigQuery has no bare UNION
spine as (

    select distinct
        spine_keys.date,
        spine_keys.channel_group

    from (
        select
            date,
            channel_group
        from traffic_daily
        union all
        select
            date,
            channel_group
        from crm_daily
        union all
        select
            date,
            channel_group
        from spend_daily
    ) as spine_keys

),

final as (

    select
        spine.date,
        spine.channel_group,
        coalesce(traffic_daily.sessions, 0) as sessions,
        coalesce(traffic_daily.new_users, 0) as new_users,
        coalesce(crm_daily.leads, 0) as leads,
        coalesce(crm_daily.customers_acquired, 0) as customers_acquired,
        coalesce(crm_daily.revenue, 0) as revenue,
        coalesce(traffic_daily.ga4_revenue, 0) as ga4_revenue,
        coalesce(spend_daily.ad_spend, 0) as ad_spend,
        coalesce(spend_daily.ad_impressions, 0) as ad_impressions,
        coalesce(spend_daily.ad_clicks, 0) as ad_clicks,
        {{ safe_divide('spend_daily.ad_spend', 'crm_daily.leads') }}
            as cost_per_lead,
        {{ safe_divide('crm_daily.revenue', 'spend_daily.ad_spend') }}
            as roas

    from spine
    left join traffic_daily
        using (date, channel_group)
    left join crm_daily
        using (date, channel_group)
    left join spend_daily
        using (date, channel_group)
    where spine.date is not null

)

select * from final
