-- attract.channel_daily keeps every GA4 session of the staged traffic report: the
-- channel grouping and the date × channel spine must neither drop nor double rows.
with

mart as (

    select coalesce(sum(sessions), 0) as sessions
    from {{ ref('channel_daily') }}

),

staged as (

    select coalesce(sum(sessions), 0) as sessions
    from {{ ref('stg_ga4__traffic_acquisition') }}

)

select
    mart.sessions as mart_sessions,
    staged.sessions as staged_sessions

from mart
cross join staged
where mart.sessions != staged.sessions
