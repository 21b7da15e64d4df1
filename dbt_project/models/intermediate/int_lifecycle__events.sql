{#
    One row per person × flywheel stage entered (stranger, prospect, customer, promoter),
    with the time the person entered it. Rules (see int_lifecycle__events.yml):
      stranger  first time the person is seen: earliest contact created_at or conversation
      prospect  the person identifies themself: earliest contact created_at or identified
                conversation (int_lifecycle__prospects)
      customer  first order, or first won deal (closed_at), whichever is earlier
                (int_lifecycle__customers)
      promoter  a customer who gave an NPS score of 9–10 or referred someone; entered at
                the later of became-customer and the first such signal
                (int_lifecycle__promoters)
    Orders, deals, NPS and referrals whose contact_id is not in the CRM contacts count for
    a person whose person_id is that contact_id (referrals: int_referrals__persons).
#}
with

prospects as (

    select * from {{ ref('int_lifecycle__prospects') }}

),

customers as (

    select * from {{ ref('int_lifecycle__customers') }}

),

promoters as (

    select * from {{ ref('int_lifecycle__promoters') }}

),

-- a customer or promoter is also a prospect and a stranger: earlier stages are entered
-- no later than the later ones
people as (

    select
        person_id,
        entered_at

    from prospects

    union all

    select
        person_id,
        entered_at

    from customers

),

first_seen as (

    select
        person_id,
        min(entered_at) as entered_at

    from people
    group by person_id

),

unioned as (

    select
        person_id,
        'stranger' as stage,
        1 as stage_order,
        entered_at

    from first_seen

    union all

    select
        person_id,
        'prospect' as stage,
        2 as stage_order,
        entered_at

    from first_seen

    union all

    select
        person_id,
        'customer' as stage,
        3 as stage_order,
        entered_at

    from customers

    union all

    select
        person_id,
        'promoter' as stage,
        4 as stage_order,
        entered_at

    from promoters

),

final as (

    select
        {{ dbt.concat(['person_id', "':'", 'stage']) }} as lifecycle_event_id,
        person_id,
        stage,
        stage_order,
        entered_at

    from unioned

)

select * from final
