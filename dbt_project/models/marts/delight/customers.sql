{#
    One row per customer (a person with at least one order), keyed by the person's
    surviving contact_id. predicted_orders_90d, predicted_clv_365d and p_alive come from
    ml.customer_value (latest data_through), which is keyed the same way; null until the
    customer-value asset has run, or for a buyer newer than its data_through.
#}
with

orders as (

    select * from {{ ref('stg_crm__orders') }}

),

persons as (

    select * from {{ ref('int_identity__persons') }}
    where identifier_type = 'contact_id'

),

nps_responses as (

    select * from {{ ref('stg_crm__nps_responses') }}

),

person_orders as (

    select
        coalesce(persons.person_id, orders.contact_id) as person_id,
        orders.order_id,
        orders.ordered_at,
        orders.revenue,
        orders.items

    from orders
    left join persons
        on orders.contact_id = persons.identifier_value
    where orders.contact_id is not null

),

order_summary as (

    select
        person_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as orders,
        sum(revenue) as revenue,
        cast(sum(items) as {{ dbt.type_bigint() }}) as items

    from person_orders
    group by person_id

),

ranked_nps as (

    select
        coalesce(persons.person_id, nps_responses.contact_id) as person_id,
        nps_responses.score,
        nps_responses.responded_at,
        row_number() over (
            partition by coalesce(persons.person_id, nps_responses.contact_id)
            order by nps_responses.responded_at desc
        ) as response_rank

    from nps_responses
    left join persons
        on nps_responses.contact_id = persons.identifier_value

),

customer_value as (

    select * from {{ source_or_empty('ml', 'customer_value') }}

),

latest_values as (

    select
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        cast(predicted_orders_90d as {{ type_double() }}) as predicted_orders_90d,
        cast(predicted_clv_365d as {{ type_double() }}) as predicted_clv_365d,
        cast(p_alive as {{ type_double() }}) as p_alive,
        cast(data_through as date) as predictions_data_through,
        row_number() over (
            partition by contact_id order by data_through desc
        ) as value_rank

    from customer_value

),

data_through as (

    select max(ordered_at) as data_through from orders

),

final as (

    select
        order_summary.person_id as contact_id,
        order_summary.first_order_at,
        order_summary.last_order_at,
        order_summary.orders,
        order_summary.revenue,
        order_summary.items,
        {{ safe_divide('order_summary.revenue', 'order_summary.orders') }}
            as avg_order_value,
        {{ dbt.datediff(
            'order_summary.last_order_at', 'data_through.data_through', 'day'
        ) }} as days_since_last_order,
        latest_values.predicted_orders_90d,
        latest_values.predicted_clv_365d,
        latest_values.p_alive,
        latest_values.predictions_data_through,
        ranked_nps.score as latest_nps,
        ranked_nps.responded_at as latest_nps_at

    from order_summary
    cross join data_through
    left join ranked_nps
        on
            order_summary.person_id = ranked_nps.person_id
            and ranked_nps.response_rank = 1
    left join latest_values
        on
            order_summary.person_id = latest_values.contact_id
            and latest_values.value_rank = 1

)

select * from final
