{#
    One row per contact (surviving contact_id) who answered an NPS survey or referred
    someone. nps_category follows the latest response: promoter 9–10, passive 7–8,
    detractor 0–6. Referrals come from int_referrals__persons (one row per referrer ×
    referred person), so a referred person counts once per referrer however many contact
    records were involved: referrals_made = persons referred, referred_customers = those
    who became customers, referred_revenue = their order revenue.
#}
with

person_nps_responses as (

    select * from {{ ref('int_crm__person_nps_responses') }}

),

person_referrals as (

    select * from {{ ref('int_referrals__persons') }}

),

customers as (

    select * from {{ ref('customers') }}

),

ranked_nps as (

    select
        person_id,
        score,
        nps_category,
        responded_at,
        row_number() over (
            partition by person_id
            order by responded_at desc
        ) as response_rank,
        count(*) over (partition by person_id) as nps_responses

    from person_nps_responses
    where contact_id is not null

),

-- customers has one row per person, so the join keeps one row per referred person
referral_summary as (

    select
        person_referrals.referrer_person_id as person_id,
        count(*) as referrals_made,
        count(customers.contact_id) as referred_customers,
        sum(customers.revenue) as referred_revenue,
        min(person_referrals.first_referred_at) as first_referral_at

    from person_referrals
    left join customers
        on person_referrals.referred_person_id = customers.contact_id
    group by person_referrals.referrer_person_id

),

-- distinct over `union all` rather than `union`: BigQuery has no bare UNION
advocates as (

    select distinct advocate_ids.person_id

    from (
        select person_id from ranked_nps
        union all
        select person_id from referral_summary
    ) as advocate_ids

),

final as (

    select
        advocates.person_id as contact_id,
        latest_nps.score as latest_nps,
        latest_nps.nps_category,
        latest_nps.responded_at as latest_nps_at,
        coalesce(latest_nps.nps_responses, 0) as nps_responses,
        coalesce(referral_summary.referrals_made, 0) as referrals_made,
        coalesce(referral_summary.referred_customers, 0) as referred_customers,
        coalesce(referral_summary.referred_revenue, 0) as referred_revenue,
        referral_summary.first_referral_at,
        customers.contact_id is not null as is_customer

    from advocates
    left join ranked_nps as latest_nps
        on
            advocates.person_id = latest_nps.person_id
            and latest_nps.response_rank = 1
    left join referral_summary
        on advocates.person_id = referral_summary.person_id
    left join customers
        on advocates.person_id = customers.contact_id

)

select * from final
