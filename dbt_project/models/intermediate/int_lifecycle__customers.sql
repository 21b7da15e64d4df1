{#
    When each person became a customer: the earlier of their first order and their first
    won deal (closed_at, else created_at). Orders come with their person
    (int_crm__person_orders); deals whose contact_id is not in the CRM contacts count for
    a person whose person_id is that contact_id (macro assign_person), as orders do. The
    customer rule of int_lifecycle__events.
#}
with

person_orders as (

    select * from {{ ref('int_crm__person_orders') }}
    where contact_id is not null

),

won_deals as (

    select * from {{ ref('stg_crm__deals') }}
    where is_won and contact_id is not null

),

person_won_deals as (

    {{ assign_person('won_deals') }}

),

customer_signals as (

    select
        person_id,
        ordered_at as signal_at

    from person_orders

    union all

    select
        person_id,
        coalesce(closed_at, created_at) as signal_at

    from person_won_deals

),

final as (

    select
        person_id,
        min(signal_at) as entered_at

    from customer_signals
    group by person_id

)

select * from final
