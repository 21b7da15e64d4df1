{#
    The wheel's phase per day of the stages_daily spine, from int_momentum__daily_signals
    (rule with its numbers in int_momentum__daily_phase.yml and flywheel.momentum's phase).
    A momentum period takes the phase of its last day, so a week and the month ending on
    the same day agree.
#}
{%- set min_data_days = var('flywheel_phase_min_data_days', 56) -%}
{%- set min_customers = var('flywheel_phase_min_customers', 50) -%}
{%- set min_growth = var('flywheel_phase_min_customer_growth', 0.1) -%}
{%- set min_measured = var('flywheel_phase_min_recommendations_measured', 3) -%}
{%- set streak_weeks = var('flywheel_phase_streak_weeks', 4) -%}
with

daily_signals as (

    select * from {{ ref('int_momentum__daily_signals') }}

),

flags as (

    select
        date,
        data_days >= {{ min_data_days }}
        and customers_total >= {{ min_customers }} as has_enough_data,
        customers_28d > customers_previous_28d * (1 + {{ min_growth }}) as customers_accelerate,
        proven_estimates_84d > 0 as has_proven_action,
        coalesce(
            outcome_estimates_84d >= {{ min_measured }}
            and realised_lift_84d > 0
            and working_estimates_share_84d > 0.5,
            false
        ) as actions_work

    from daily_signals

),

accelerating as (

    select
        date,
        has_enough_data,
        actions_work,
        has_enough_data and (customers_accelerate or has_proven_action) as is_accelerating

    from flags

),

-- the weekly checkpoints (this day, 7, 14 … days before) at which the wheel accelerated
streaks as (

    select
        accelerating.date,
        count(earlier.date) as accelerating_weeks

    from accelerating
    inner join accelerating as earlier
        on
            accelerating.date >= earlier.date
            and {{ dbt.dateadd('day', '-7 * (' ~ streak_weeks ~ ' - 1)', 'accelerating.date') }}
            <= earlier.date
            and mod({{ dbt.datediff('earlier.date', 'accelerating.date', 'day') }}, 7) = 0
            and earlier.is_accelerating
    group by accelerating.date

),

final as (

    select
        daily_signals.date,
        daily_signals.data_days,
        daily_signals.customers_total,
        daily_signals.customers_28d,
        daily_signals.customers_previous_28d,
        daily_signals.outcome_estimates_84d,
        daily_signals.proven_estimates_84d,
        daily_signals.working_estimates_share_84d,
        daily_signals.realised_lift_84d,
        accelerating.is_accelerating,
        accelerating.actions_work,
        cast(coalesce(streaks.accelerating_weeks, 0) as {{ dbt.type_bigint() }})
            as accelerating_weeks,
        case
            when not accelerating.has_enough_data then 'accumulation'
            when
                accelerating.is_accelerating
                and accelerating.actions_work
                and coalesce(streaks.accelerating_weeks, 0) >= {{ streak_weeks }}
                then 'self_sustaining'
            when accelerating.is_accelerating then 'acceleration'
            else 'accumulation'
        end as phase

    from daily_signals
    inner join accelerating
        on daily_signals.date = accelerating.date
    left join streaks
        on daily_signals.date = streaks.date

)

select * from final
