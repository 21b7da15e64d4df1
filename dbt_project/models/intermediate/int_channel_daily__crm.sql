{#
    The CRM side of attract.channel_daily, by date × acquisition channel group
    (int_channel_daily__person_channels): persons created (leads), persons who became
    customers (int_lifecycle__events) and order revenue by order date
    (int_crm__person_orders), each attributed to the person's acquisition channel
    ('Unassigned' for buyers without a CRM contact). A measure is null where the date ×
    channel group has none of it, as the mart's cost_per_lead and roas need.
#}
with

person_channels as (

    select * from {{ ref('int_channel_daily__person_channels') }}

),

lifecycle_events as (

    select * from {{ ref('int_lifecycle__events') }}

),

person_orders as (

    select * from {{ ref('int_crm__person_orders') }}

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
        cast({{ dbt.date_trunc('day', 'person_orders.ordered_at') }} as date) as date,
        coalesce(person_channels.channel_group, 'Unassigned') as channel_group,
        sum(person_orders.revenue) as revenue

    from person_orders
    left join person_channels
        on person_orders.person_id = person_channels.person_id
    group by
        cast({{ dbt.date_trunc('day', 'person_orders.ordered_at') }} as date),
        coalesce(person_channels.channel_group, 'Unassigned')

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
    ) as spine_keys
    where spine_keys.date is not null

),

final as (

    select
        spine.date,
        spine.channel_group,
        leads_daily.leads,
        customers_daily.customers_acquired,
        revenue_daily.revenue

    from spine
    left join leads_daily
        using (date, channel_group)
    left join customers_daily
        using (date, channel_group)
    left join revenue_daily
        using (date, channel_group)

)

select * from final
