{#
    One row per referrer person × referred person: CRM referrals (contact to contact)
    resolved through the identity spine. Several referral records between the same two
    persons (duplicate contacts of one person, a referral exported twice under two
    contact ids) count once, at the first referred_at, so that a referred customer's
    revenue is credited to the referrer once. A contact_id unknown to the CRM is its own
    person (macro assign_person). Referrals without a referrer or a referred contact are
    left out.
#}
with

referrals as (

    select * from {{ ref('stg_crm__referrals') }}

),

referrer_persons as (

    {{ assign_person('referrals', 'referrer_contact_id', 'referrer_person_id') }}

),

resolved as (

    {{ assign_person('referrer_persons', 'referred_contact_id', 'referred_person_id') }}

),

final as (

    select
        {{ dbt.concat(['referrer_person_id', "'>'", 'referred_person_id']) }}
            as person_referral_id,
        referrer_person_id,
        referred_person_id,
        min(referred_at) as first_referred_at,
        count(*) as referral_records

    from resolved
    where
        referrer_contact_id is not null
        and referred_contact_id is not null
    group by referrer_person_id, referred_person_id

)

select * from final
