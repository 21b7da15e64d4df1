{#
    Realised lift per momentum period (period_type × period_start): the median favourable
    lift of the distinct outcome estimates (int_momentum__outcome_estimates: a cohort's
    estimate counts once) measured in the period, and of those measured so far.
#}
with

periods as (

    select * from {{ ref('int_momentum__periods') }}

),

outcome_estimates as (

    select * from {{ ref('int_momentum__outcome_estimates') }}

),

period_estimates as (

    select
        periods.period_type,
        periods.period_start,
        outcome_estimates.favourable_lift,
        case
            when outcome_estimates.measured_date >= periods.period_start
                then outcome_estimates.favourable_lift
        end as favourable_lift_in_period

    from periods
    inner join outcome_estimates
        on periods.period_end >= outcome_estimates.measured_date

),

final as (

    select
        period_type,
        period_start,
        cast(count(favourable_lift_in_period) as {{ dbt.type_bigint() }})
            as outcome_estimates_measured,
        {{ median('favourable_lift_in_period') }} as realised_lift,
        {{ median('favourable_lift') }} as realised_lift_to_date

    from period_estimates
    group by period_type, period_start

)

select * from final
