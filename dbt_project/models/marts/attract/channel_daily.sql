{#
    Date × channel group, joining GA4 sessions, CRM leads and customers, CRM order revenue
    and ad spend on the same channel grouping (GA4's default channel groups; CRM contacts
    and ad spend are grouped by the seed `channel_groups`).
#}
with

traffic as (

    select * from {{ ref('stg_ga4__traffic_acquisition') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

persons as (

    select * from {{ ref('int_identity__persons') }}
    where identifier_type = 'contact_id'

),

lifecycle_events as (

    select * from {{ ref('int_lifecycle__events') }}

),

orders as (

    select * from {{ ref('stg_crm__orders') }}

),

ad_spend as (

    select * from {{ ref('stg_ads__ad_spend') }}

),

-- the first contact record of each person carries its acquisition channel
person_channels as (

    select
        contacts.contact_id as person_id,
        contacts.channel_group,
        contacts.created_at

    from contacts
    inner join persons
        on
            contacts.contact_id = persons.identifier_value
            and contacts.contact_id = persons.person_id

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

leads_daily as (

    select
        cast({{ dbt.date_trunc('day', 'created_at') }} as date) as date,
        channel_group,
        count(*) as leads

    from person_channels
    where created_at is not null
    group by
        cast({{ dbt.date_trunc('day', 'created_at') }} as date),
        channel_group

),

customers_daily as (

    select
        cast({{ dbt.date_trunc('day', 'lifecycle_events.entered_at') }} as date)
            as date,
        coalesce(person_channels.channel_group, 'Unassigned') as channel_group,
        count(*) as customers_acquired

    from lifecycle_events
    left join person_channels
        on lifecycle_events.person_id = person_channels.person_id
    where lifecycle_events.stage = 'customer'
    group by
        cast({{ dbt.date_trunc('day', 'lifecycle_events.entered_at') }} as date),
        coalesce(person_channels.channel_group, 'Unassigned')

),

revenue_daily as (

    select
        cast({{ dbt.date_trunc('day', 'orders.ordered_at') }} as date) as date,
        coalesce(person_channels.channel_group, 'Unassigned') as channel_group,
        sum(orders.revenue) as revenue

    from orders
    left join persons
        on orders.contact_id = persons.identifier_value
    left join person_channels
        on
            coalesce(persons.person_id, orders.contact_id)
            = person_channels.person_id
    group by
        cast({{ dbt.date_trunc('day', 'orders.ordered_at') }} as date),
        coalesce(person_channels.channel_group, 'Unassigned')

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
        from leads_daily
        union all
        select
            date,
            channel_group
        from customers_daily
        union all
        select
            date,
            channel_group
        from revenue_daily
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
        coalesce(leads_daily.leads, 0) as leads,
        coalesce(customers_daily.customers_acquired, 0) as customers_acquired,
        coalesce(revenue_daily.revenue, 0) as revenue,
        coalesce(traffic_daily.ga4_revenue, 0) as ga4_revenue,
        coalesce(spend_daily.ad_spend, 0) as ad_spend,
        coalesce(spend_daily.ad_impressions, 0) as ad_impressions,
        coalesce(spend_daily.ad_clicks, 0) as ad_clicks,
        {{ safe_divide('spend_daily.ad_spend', 'leads_daily.leads') }}
            as cost_per_lead,
        {{ safe_divide('revenue_daily.revenue', 'spend_daily.ad_spend') }}
            as roas

    from spine
    left join traffic_daily
        on
            spine.date = traffic_daily.date
            and spine.channel_group = traffic_daily.channel_group
    left join leads_daily
        on
            spine.date = leads_daily.date
            and spine.channel_group = leads_daily.channel_group
    left join customers_daily
        on
            spine.date = customers_daily.date
            and spine.channel_group = customers_daily.channel_group
    left join revenue_daily
        on
            spine.date = revenue_daily.date
            and spine.channel_group = revenue_daily.channel_group
    left join spend_daily
        on
            spine.date = spend_daily.date
            and spine.channel_group = spend_daily.channel_group
    where spine.date is not null

)

select * from final
