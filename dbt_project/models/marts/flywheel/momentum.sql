{#
    The wheel's momentum per period: one row per ISO week and per calendar month
    (period_type × period_start), a join of the int_momentum__* models, each per period,
    with growth against the previous period of the same type. The phase is the phase of
    the period's last day (int_momentum__daily_phase; rule in momentum.yml).
#}
with

periods as (

    select * from {{ ref('int_momentum__periods') }}

),

stage_durations as (

    select * from {{ ref('int_momentum__stage_durations') }}

),

data_volume as (

    select * from {{ ref('int_momentum__data_volume') }}

),

model_quality as (

    select * from {{ ref('int_momentum__model_quality') }}

),

recommendation_activity as (

    select * from {{ ref('int_momentum__recommendation_activity') }}

),

realised_lift as (

    select * from {{ ref('int_momentum__realised_lift') }}

),

-- each period's volumes in the previous period of the same type
previous_periods as (

    select
        period_type,
        period_start,
        lag(strangers) over (partition by period_type order by period_start)
            as previous_strangers,
        lag(prospects) over (partition by period_type order by period_start)
            as previous_prospects,
        lag(customers) over (partition by period_type order by period_start)
            as previous_customers,
        lag(promoters) over (partition by period_type order by period_start)
            as previous_promoters

    from periods

),

daily_phase as (

    select * from {{ ref('int_momentum__daily_phase') }}

),

combined as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        periods.strangers,
        periods.prospects,
        periods.customers,
        periods.promoters,
        periods.strangers_total,
        periods.prospects_total,
        periods.customers_total,
        periods.promoters_total,
        {{ safe_divide('periods.prospects_total', 'periods.strangers_total') }}
            as stranger_to_prospect_rate,
        {{ safe_divide('periods.customers_total', 'periods.prospects_total') }}
            as prospect_to_customer_rate,
        {{ safe_divide('periods.promoters_total', 'periods.customers_total') }}
            as customer_to_promoter_rate,
        stage_durations.median_days_prospect_to_customer,
        stage_durations.median_days_customer_to_promoter,
        coalesce(data_volume.data_rows, 0) as data_rows,
        coalesce(data_volume.data_rows_total, 0) as data_rows_total,
        cast(coalesce(model_quality.models_trained, 0) as {{ dbt.type_bigint() }})
            as models_trained,
        cast(coalesce(model_quality.model_runs_total, 0) as {{ dbt.type_bigint() }})
            as model_runs_total,
        model_quality.model_metrics_beating_baseline_share,
        recommendation_activity.recommendations_issued,
        recommendation_activity.recommendations_acted,
        recommendation_activity.recommendations_issued_total,
        recommendation_activity.recommendations_measured,
        recommendation_activity.recommendations_measured_total,
        cast(coalesce(realised_lift.outcome_estimates_measured, 0) as {{ dbt.type_bigint() }})
            as outcome_estimates_measured,
        realised_lift.realised_lift,
        realised_lift.realised_lift_to_date,
        {{ safe_divide(
            'periods.prospects - previous_periods.previous_prospects', 'previous_periods.previous_prospects'
        ) }} as prospects_growth,
        {{ safe_divide(
            'periods.customers - previous_periods.previous_customers', 'previous_periods.previous_customers'
        ) }} as customers_growth,
        {{ safe_divide(
            'periods.promoters - previous_periods.previous_promoters', 'previous_periods.previous_promoters'
        ) }} as promoters_growth,
        {{ safe_divide(
            'periods.strangers - previous_periods.previous_strangers', 'previous_periods.previous_strangers'
        ) }} as strangers_growth,
        daily_phase.data_days,
        daily_phase.customers_28d,
        daily_phase.customers_previous_28d,
        daily_phase.outcome_estimates_84d,
        daily_phase.proven_estimates_84d,
        daily_phase.working_estimates_share_84d,
        daily_phase.realised_lift_84d,
        daily_phase.accelerating_weeks,
        daily_phase.phase

    from periods
    left join previous_periods
        using (period_type, period_start)
    left join stage_durations
        using (period_type, period_start)
    left join data_volume
        using (period_type, period_start)
    left join model_quality
        using (period_type, period_start)
    left join recommendation_activity
        using (period_type, period_start)
    left join realised_lift
        using (period_type, period_start)
    left join daily_phase
        on periods.period_end = daily_phase.date

),

final as (

    select
        {{ dbt.concat([
            'combined.period_type',
            "':'",
            'cast(combined.period_start as ' ~ dbt.type_string() ~ ')',
        ]) }}
            as period_key,
        combined.*

    from combined

)

select * from final
