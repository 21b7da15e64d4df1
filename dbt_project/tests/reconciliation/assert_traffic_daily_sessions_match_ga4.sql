-- attract.traffic_daily re-aggregates the staged GA4 report without losing sessions.
with

mart as (

    select coalesce(sum(sessions), 0) as sessions
    from {{ ref('traffic_daily') }}

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
