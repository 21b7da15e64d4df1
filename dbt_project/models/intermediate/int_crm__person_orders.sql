{#
    CRM orders, one row per order, each with the person who placed it (macro
    assign_person): the surviving contact_id of the order's contact in the identity spine
    (int_identity__persons), the contact_id itself when the CRM contacts do not know it,
    null for an order without a contact. The one place orders meet persons, read by the
    customer rule, the CRM side of channel_daily and the delight marts.
#}
with

orders as (

    select * from {{ ref('stg_crm__orders') }}

),

person_orders as (

    {{ assign_person('orders') }}

),

final as (

    select
        order_id,
        contact_id,
        person_id,
        ordered_at,
        revenue,
        items

    from person_orders

)

select * from final
