{{ config(materialized='view') }}

with

spend as (

    select * from {{ ref('stg_ads__ad_spend') }}

),

traffic as (

    select * from {{ ref('stg_ga4__traffic_acquisition') }}

),

spend_per_day as (

    select
        spend_date as report_date,
        campaign,
        sum(spend) as spend

    from spend
    group by spend_date, campaign

),

-- sessions of the campaigns that ever had spend: the paid ones the budget moves between
sessions_per_day as (

    select
        report_date,
        campaign,
        sum(sessions) as sessions

    from traffic
    where campaign in (select distinct spend.campaign from spend)
    group by report_date, campaign

),

final as (

    select
        coalesce(spend_per_day.report_date, sessions_per_day.report_date) as report_date,
        coalesce(spend_per_day.campaign, sessions_per_day.campaign) as campaign,
        coalesce(spend_per_day.spend, 0) as spend,
        coalesce(sessions_per_day.sessions, 0) as sessions

    from spend_per_day
    full outer join sessions_per_day
        on
            spend_per_day.report_date = sessions_per_day.report_date
            and spend_per_day.campaign = sessions_per_day.campaign

)

select * from final
