{#
    What the wheel's phase is decided on, per day of the stages_daily spine, each over a
    trailing window ending that day: days of data so far, customers so far, new customers
    in the last 28 days and in the 28 days before, and the distinct outcome estimates
    measured in the last 84 days (12 weeks; int_momentum__outcome_estimates: a cohort's
    estimate counts once) — how many, how many with their interval above zero, the share
    whose lift is favourable and their median favourable lift.
#}
{%- set growth_days = 28 -%}
{%- set outcome_days = 84 -%}
with

stages_daily as (

    select * from {{ ref('stages_daily') }}

),

outcome_estimates as (

    select * from {{ ref('int_momentum__outcome_estimates') }}

),

days as (

    select
        date,
        max(case when stage = 'customer' then total end) as customers_total,
        sum(case when stage = 'customer' then entered else 0 end) as customers_entered

    from stages_daily
    group by date

),

bounds as (

    select min(date) as first_date
    from days

),

customer_windows as (

    select
        days.date,
        sum(
            case
                when earlier.date > {{ dbt.dateadd('day', -growth_days, 'days.date') }}
                    then earlier.customers_entered
                else 0
            end
        ) as customers_28d,
        sum(
            case
                when earlier.date <= {{ dbt.dateadd('day', -growth_days, 'days.date') }}
                    then earlier.customers_entered
                else 0
            end
        ) as customers_previous_28d

    from days
    inner join days as earlier
        on
            days.date >= earlier.date
            and {{ dbt.dateadd('day', -2 * growth_days, 'days.date') }} < earlier.date
    group by days.date

),

outcome_windows as (

    select
        days.date,
        count(*) as outcome_estimates_84d,
        sum(case when outcome_estimates.is_proven then 1 else 0 end) as proven_estimates_84d,
        avg(case when outcome_estimates.is_working then 1.0 else 0.0 end)
            as working_estimates_share_84d,
        {{ median('outcome_estimates.favourable_lift') }} as realised_lift_84d

    from days
    inner join outcome_estimates
        on
            days.date >= outcome_estimates.measured_date
            and {{ dbt.dateadd('day', -outcome_days, 'days.date') }}
            < outcome_estimates.measured_date
    group by days.date

),

final as (

    select
        days.date,
        cast(
            {{ dbt.datediff('bounds.first_date', 'days.date', 'day') }} + 1
            as {{ dbt.type_bigint() }}
        ) as data_days,
        cast(coalesce(days.customers_total, 0) as {{ dbt.type_bigint() }}) as customers_total,
        cast(coalesce(customer_windows.customers_28d, 0) as {{ dbt.type_bigint() }})
            as customers_28d,
        cast(coalesce(customer_windows.customers_previous_28d, 0) as {{ dbt.type_bigint() }})
            as customers_previous_28d,
        cast(coalesce(outcome_windows.outcome_estimates_84d, 0) as {{ dbt.type_bigint() }})
            as outcome_estimates_84d,
        cast(coalesce(outcome_windows.proven_estimates_84d, 0) as {{ dbt.type_bigint() }})
            as proven_estimates_84d,
        outcome_windows.working_estimates_share_84d,
        outcome_windows.realised_lift_84d

    from days
    cross join bounds
    left join customer_windows
        on days.date = customer_windows.date
    left join outcome_windows
        on days.date = outcome_windows.date

)

select * from final
