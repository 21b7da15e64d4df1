{#
    One row per person × flywheel stage entered (stranger, prospect, customer, promoter),
    with the time the person entered it. Rules (see int_lifecycle__events.yml):
      stranger  first time the person is seen: earliest contact created_at or conversation
      prospect  the person identifies themself: earliest contact created_at or identified
                conversation
      customer  first order, or first won deal (closed_at), whichever is earlier
      promoter  a customer who gave an NPS score of 9–10 or referred someone; entered at
                the later of became-customer and the first such signal
    Orders, deals, NPS and referrals whose contact_id is not in the CRM contacts count for
    a person whose person_id is that contact_id (referrals: int_referrals__persons).
#}
with

identities as (

    select * from {{ ref('int_identity__persons') }}
    where identifier_type = 'contact_id'

),

conversations as (

    select * from {{ ref('int_conversations__texts') }}

),

orders as (

    select * from {{ ref('stg_crm__orders') }}

),

deals as (

    select * from {{ ref('stg_crm__deals') }}

),

nps_responses as (

    select * from {{ ref('stg_crm__nps_responses') }}

),

person_referrals as (

    select * from {{ ref('int_referrals__persons') }}

),

prospect_signals as (

    select
        person_id,
        identifier_seen_at as signal_at

    from identities

    union all

    select
        person_id,
        started_at as signal_at

    from conversations
    where person_id is not null

),

prospects as (

    select
        person_id,
        min(signal_at) as entered_at

    from prospect_signals
    group by person_id

),

customer_signals as (

    select
        coalesce(identities.person_id, orders.contact_id) as person_id,
        orders.ordered_at as signal_at

    from orders
    left join identities
        on orders.contact_id = identities.identifier_value
    where orders.contact_id is not null

    union all

    select
        coalesce(identities.person_id, deals.contact_id) as person_id,
        coalesce(deals.closed_at, deals.created_at) as signal_at

    from deals
    left join identities
        on deals.contact_id = identities.identifier_value
    where deals.is_won and deals.contact_id is not null

),

customers as (

    select
        person_id,
        min(signal_at) as entered_at

    from customer_signals
    group by person_id

),

promoter_signals as (

    select
        coalesce(identities.person_id, nps_responses.contact_id) as person_id,
        nps_responses.responded_at as signal_at

    from nps_responses
    left join identities
        on nps_responses.contact_id = identities.identifier_value
    where nps_responses.nps_category = 'promoter'

    union all

    select
        referrer_person_id as person_id,
        first_referred_at as signal_at

    from person_referrals

),

promoters as (

    select
        promoter_signals.person_id,
        case
            when min(promoter_signals.signal_at) > min(customers.entered_at)
                then min(promoter_signals.signal_at)
            else min(customers.entered_at)
        end as entered_at

    from promoter_signals
    inner join customers
        on promoter_signals.person_id = customers.person_id
    group by promoter_signals.person_id

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
