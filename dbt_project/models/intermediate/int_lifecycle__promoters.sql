{#
    When each customer became a promoter: a customer who gave an NPS score of 9–10 or
    referred someone (int_referrals__persons) enters at the later of became-customer
    (int_lifecycle__customers) and the first such signal. NPS answers come with their
    person (int_crm__person_nps_responses: a contact_id the CRM contacts do not know is a
    person of its own). The promoter rule of int_lifecycle__events.
#}
with

person_promoter_answers as (

    select * from {{ ref('int_crm__person_nps_responses') }}
    where nps_category = 'promoter'

),

person_referrals as (

    select * from {{ ref('int_referrals__persons') }}

),

customers as (

    select * from {{ ref('int_lifecycle__customers') }}

),

promoter_signals as (

    select
        person_id,
        responded_at as signal_at

    from person_promoter_answers

    union all

    select
        referrer_person_id as person_id,
        first_referred_at as signal_at

    from person_referrals

),

final as (

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

)

select * from final
