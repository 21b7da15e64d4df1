{#
    One row per referrer person × referred person: CRM referrals (contact to contact)
    resolved through the identity spine. Several referral records between the same two
    persons (duplicate contacts of one person, a referral exported twice under two
    contact ids) count once, at the first referred_at, so that a referred customer's
    revenue is credited to the referrer once. A contact_id unknown to the CRM is its own
    person. Referrals without a referrer or a referred contact are left out.
#}
with

referrals as (

    select * from {{ ref('stg_crm__referrals') }}

),

persons as (

    select * from {{ ref('int_identity__persons') }}
    where identifier_type = 'contact_id'

),

resolved as (

    select
        coalesce(referrers.person_id, referrals.referrer_contact_id)
            as referrer_person_id,
        coalesce(referred.person_id, referrals.referred_contact_id)
            as referred_person_id,
        referrals.referred_at

    from referrals
    left join persons as referrers
        on referrals.referrer_contact_id = referrers.identifier_value
    left join persons as referred
        on referrals.referred_contact_id = referred.identifier_value
    where
        referrals.referrer_contact_id is not null
        and referrals.referred_contact_id is not null

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
    group by referrer_person_id, referred_person_id

)

select * from final
