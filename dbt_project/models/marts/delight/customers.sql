{#
    One row per customer (a person with at least one order), keyed by the person's
    surviving contact_id. predicted_orders_90d, predicted_clv_365d and p_alive come from
    ml.customer_value (latest data_through), which is keyed the same way; null until the
    customer-value asset has run, or for a buyer newer than its data_through.
#}
with

person_orders as (

    select * from {{ ref('int_crm__person_orders') }}

),

person_nps_responses as (

    select * from {{ ref('int_crm__person_nps_responses') }}

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
    where contact_id is not null
    group by person_id

),

ranked_nps as (

    select
        person_id,
        score,
        responded_at,
        row_number() over (
            partition by person_id
            order by responded_at desc
        ) as response_rank

    from person_nps_responses

),

customer_value as (

    select * from {{ ref('stg_ml__customer_value') }}

),

latest_values as (

    {{ latest_model_output('customer_value', ['contact_id']) }}

),

data_through as (

    select max(ordered_at) as data_through from person_orders

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
        latest_values.data_through as predictions_data_through,
        ranked_nps.score as latest_nps,
        ranked_nps.responded_at as latest_nps_at

    from order_summary
    cross join data_through
    left join ranked_nps
        on
            order_summary.person_id = ranked_nps.person_id
            and ranked_nps.response_rank = 1
    left join latest_values
        on order_summary.person_id = latest_values.contact_id

)

select * from final
