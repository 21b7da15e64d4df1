{#
    The wheel's momentum per period: one row per ISO week and per calendar month
    (period_type × period_start). Volumes are people entering each stage in the period;
    *_total are cumulative to the period end; conversion rates are ratios of those
    cumulative totals; growth compares with the previous period of the same type.
    Median days between stages are person-level (prospect → customer → promoter); a
    stranger becomes a prospect the moment they identify themself, so that step has no
    duration to measure.

    Model quality, as of the period end: for every model × metric the latest run whose
    data_through is not after the period end, and the share of those beating their naive
    baseline. Recommendations measured: the first measurement of a recommendation (an
    outcome in recommendation_outcomes or a 'measured' decision).

    phase (thresholds are vars in dbt_project.yml):
      accumulation     fewer than flywheel_phase_min_customers customers so far, or no
                       current model metric beats its naive baseline: the wheel is still
                       gathering the data it needs to learn;
      self_sustaining  otherwise, when at least flywheel_phase_min_recommendations_measured
                       recommendations have been measured so far and prospects entering
                       did not shrink against the previous period;
      acceleration     everything in between: models beat their baselines and customers
                       accumulate, but the loop of measured actions is not closed yet.
#}
with

stages_daily as (

    select * from {{ ref('stages_daily') }}

),

lifecycle as (

    select * from {{ ref('lifecycle') }}

),

model_runs as (

    select * from {{ ref('model_runs') }}

),

recommendations as (

    select * from {{ ref('recommendations') }}

),

recommendation_outcomes as (

    select * from {{ ref('recommendation_outcomes') }}

),

traffic as (

    select * from {{ ref('stg_ga4__traffic_acquisition') }}

),

conversations as (

    select * from {{ ref('stg_conversations__conversations') }}

),

orders as (

    select * from {{ ref('stg_crm__orders') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

search_analytics as (

    select * from {{ ref('stg_gsc__search_analytics') }}

),

deals as (

    select * from {{ ref('stg_crm__deals') }}

),

nps_responses as (

    select * from {{ ref('stg_crm__nps_responses') }}

),

referrals as (

    select * from {{ ref('stg_crm__referrals') }}

),

day_periods as (

    select distinct
        'week' as period_type,
        cast({{ iso_week_start('date') }} as date) as period_start,
        date

    from stages_daily

    union all

    select distinct
        'month' as period_type,
        cast({{ dbt.date_trunc('month', 'date') }} as date) as period_start,
        date

    from stages_daily

),

periods as (

    select
        period_type,
        period_start,
        max(date) as period_end

    from day_periods
    group by period_type, period_start

),

stage_volumes as (

    select
        day_periods.period_type,
        day_periods.period_start,
        sum(case when stages_daily.stage = 'stranger' then stages_daily.entered else 0 end)
            as strangers,
        sum(case when stages_daily.stage = 'prospect' then stages_daily.entered else 0 end)
            as prospects,
        sum(case when stages_daily.stage = 'customer' then stages_daily.entered else 0 end)
            as customers,
        sum(case when stages_daily.stage = 'promoter' then stages_daily.entered else 0 end)
            as promoters

    from day_periods
    inner join stages_daily
        on day_periods.date = stages_daily.date
    group by day_periods.period_type, day_periods.period_start

),

stage_totals as (

    select
        periods.period_type,
        periods.period_start,
        max(case when stages_daily.stage = 'stranger' then stages_daily.total end)
            as strangers_total,
        max(case when stages_daily.stage = 'prospect' then stages_daily.total end)
            as prospects_total,
        max(case when stages_daily.stage = 'customer' then stages_daily.total end)
            as customers_total,
        max(case when stages_daily.stage = 'promoter' then stages_daily.total end)
            as promoters_total

    from periods
    inner join stages_daily
        on periods.period_end = stages_daily.date
    group by periods.period_type, periods.period_start

),

stage_durations as (

    select
        periods.period_type,
        periods.period_start,
        {{ median('lifecycle.days_prospect_to_customer') }}
            as median_days_prospect_to_customer

    from periods
    inner join lifecycle
        on
            cast(lifecycle.became_customer_at as date) >= periods.period_start
            and cast(lifecycle.became_customer_at as date) <= periods.period_end
    group by periods.period_type, periods.period_start

),

promoter_durations as (

    select
        periods.period_type,
        periods.period_start,
        {{ median('lifecycle.days_customer_to_promoter') }}
            as median_days_customer_to_promoter

    from periods
    inner join lifecycle
        on
            cast(lifecycle.became_promoter_at as date) >= periods.period_start
            and cast(lifecycle.became_promoter_at as date) <= periods.period_end
    group by periods.period_type, periods.period_start

),

daily_rows as (

    select
        report_date as date,
        count(*) as data_rows
    from traffic
    group by report_date

    union all

    select
        cast(started_at as date) as date,
        count(*) as data_rows
    from conversations
    group by cast(started_at as date)

    union all

    select
        cast(ordered_at as date) as date,
        count(*) as data_rows
    from orders
    group by cast(ordered_at as date)

    union all

    select
        cast(created_at as date) as date,
        count(*) as data_rows
    from contacts
    group by cast(created_at as date)

    union all

    select
        report_date as date,
        count(*) as data_rows
    from search_analytics
    group by report_date

    union all

    select
        cast(created_at as date) as date,
        count(*) as data_rows
    from deals
    group by cast(created_at as date)

    union all

    select
        cast(responded_at as date) as date,
        count(*) as data_rows
    from nps_responses
    group by cast(responded_at as date)

    union all

    select
        cast(referred_at as date) as date,
        count(*) as data_rows
    from referrals
    group by cast(referred_at as date)

),

data_volume as (

    select
        periods.period_type,
        periods.period_start,
        cast(
            sum(
                case
                    when daily_rows.date >= periods.period_start
                        then daily_rows.data_rows
                    else 0
                end
            ) as {{ dbt.type_bigint() }}
        ) as data_rows,
        cast(sum(daily_rows.data_rows) as {{ dbt.type_bigint() }}) as data_rows_total

    from periods
    inner join daily_rows
        on periods.period_end >= daily_rows.date
    group by periods.period_type, periods.period_start

),

-- every run known at the period end, ranked per model × metric (1 = the current one)
period_model_runs as (

    select
        periods.period_type,
        periods.period_start,
        model_runs.run_id,
        model_runs.model,
        model_runs.beats_baseline,
        row_number() over (
            partition by
                periods.period_type,
                periods.period_start,
                model_runs.model,
                model_runs.metric
            order by
                model_runs.data_through desc,
                model_runs.trained_at desc,
                model_runs.run_id desc
        ) as run_rank

    from periods
    inner join model_runs
        on periods.period_end >= model_runs.data_through

),

model_quality as (

    select
        period_type,
        period_start,
        count(distinct model) as models_trained,
        count(distinct run_id) as model_runs_total,
        avg(
            case
                when run_rank = 1 and beats_baseline then 1.0
                when run_rank = 1 and not beats_baseline then 0.0
            end
        ) as model_metrics_beating_baseline_share

    from period_model_runs
    group by period_type, period_start

),

-- a recommendation is measured at its first outcome or 'measured' decision
recommendation_measurements as (

    select
        measurements.recommendation_id,
        min(measurements.measured_at) as measured_at

    from (
        select
            recommendation_id,
            measured_at
        from recommendations
        where measured_at is not null

        union all

        select
            recommendation_id,
            measured_at
        from recommendation_outcomes
        where measured_at is not null
    ) as measurements
    group by measurements.recommendation_id

),

recommendation_activity as (

    select
        periods.period_type,
        periods.period_start,
        sum(
            case
                when
                    cast(recommendations.created_at as date) >= periods.period_start
                    and cast(recommendations.created_at as date) <= periods.period_end
                    then 1
                else 0
            end
        ) as recommendations_issued,
        sum(
            case
                when
                    cast(
                        coalesce(recommendations.accepted_at, recommendations.done_at)
                        as date
                    ) >= periods.period_start
                    and cast(
                        coalesce(recommendations.accepted_at, recommendations.done_at)
                        as date
                    ) <= periods.period_end
                    then 1
                else 0
            end
        ) as recommendations_acted,
        sum(
            case
                when
                    cast(recommendations.created_at as date) <= periods.period_end
                    then 1
                else 0
            end
        ) as recommendations_issued_total

    from periods
    cross join recommendations
    group by periods.period_type, periods.period_start

),

measurement_activity as (

    select
        periods.period_type,
        periods.period_start,
        sum(
            case
                when
                    cast(recommendation_measurements.measured_at as date)
                    >= periods.period_start
                    then 1
                else 0
            end
        ) as recommendations_measured,
        count(*) as recommendations_measured_total

    from periods
    inner join recommendation_measurements
        on cast(recommendation_measurements.measured_at as date) <= periods.period_end
    group by periods.period_type, periods.period_start

),

-- lifts signed so that positive means the action worked (fewer conversations on a topic
-- is the point of new content), so that outcomes of every type can be averaged
favourable_outcomes as (

    select
        measured_at,
        case
            when higher_is_better = false then -estimated_lift
            else estimated_lift
        end as favourable_lift

    from recommendation_outcomes

),

outcome_lift as (

    select
        periods.period_type,
        periods.period_start,
        avg(
            case
                when
                    cast(favourable_outcomes.measured_at as date)
                    >= periods.period_start
                    then favourable_outcomes.favourable_lift
            end
        ) as realised_lift,
        avg(favourable_outcomes.favourable_lift) as realised_lift_to_date

    from periods
    inner join favourable_outcomes
        on cast(favourable_outcomes.measured_at as date) <= periods.period_end
    group by periods.period_type, periods.period_start

),

combined as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        cast(coalesce(stage_volumes.strangers, 0) as {{ dbt.type_bigint() }}) as strangers,
        cast(coalesce(stage_volumes.prospects, 0) as {{ dbt.type_bigint() }}) as prospects,
        cast(coalesce(stage_volumes.customers, 0) as {{ dbt.type_bigint() }}) as customers,
        cast(coalesce(stage_volumes.promoters, 0) as {{ dbt.type_bigint() }}) as promoters,
        cast(coalesce(stage_totals.strangers_total, 0) as {{ dbt.type_bigint() }})
            as strangers_total,
        cast(coalesce(stage_totals.prospects_total, 0) as {{ dbt.type_bigint() }})
            as prospects_total,
        cast(coalesce(stage_totals.customers_total, 0) as {{ dbt.type_bigint() }})
            as customers_total,
        cast(coalesce(stage_totals.promoters_total, 0) as {{ dbt.type_bigint() }})
            as promoters_total,
        {{ safe_divide('stage_totals.prospects_total', 'stage_totals.strangers_total') }}
            as stranger_to_prospect_rate,
        {{ safe_divide('stage_totals.customers_total', 'stage_totals.prospects_total') }}
            as prospect_to_customer_rate,
        {{ safe_divide('stage_totals.promoters_total', 'stage_totals.customers_total') }}
            as customer_to_promoter_rate,
        stage_durations.median_days_prospect_to_customer,
        promoter_durations.median_days_customer_to_promoter,
        cast(coalesce(data_volume.data_rows, 0) as {{ dbt.type_bigint() }}) as data_rows,
        cast(coalesce(data_volume.data_rows_total, 0) as {{ dbt.type_bigint() }})
            as data_rows_total,
        cast(coalesce(model_quality.models_trained, 0) as {{ dbt.type_bigint() }})
            as models_trained,
        cast(coalesce(model_quality.model_runs_total, 0) as {{ dbt.type_bigint() }})
            as model_runs_total,
        model_quality.model_metrics_beating_baseline_share,
        cast(coalesce(recommendation_activity.recommendations_issued, 0) as {{ dbt.type_bigint() }})
            as recommendations_issued,
        cast(coalesce(recommendation_activity.recommendations_acted, 0) as {{ dbt.type_bigint() }})
            as recommendations_acted,
        cast(
            coalesce(recommendation_activity.recommendations_issued_total, 0)
            as {{ dbt.type_bigint() }}
        ) as recommendations_issued_total,
        cast(
            coalesce(measurement_activity.recommendations_measured, 0) as {{ dbt.type_bigint() }}
        ) as recommendations_measured,
        cast(
            coalesce(measurement_activity.recommendations_measured_total, 0)
            as {{ dbt.type_bigint() }}
        ) as recommendations_measured_total,
        -- mean favourable lift of the outcomes measured in the period / so far
        outcome_lift.realised_lift,
        outcome_lift.realised_lift_to_date

    from periods
    left join stage_volumes
        on
            periods.period_type = stage_volumes.period_type
            and periods.period_start = stage_volumes.period_start
    left join stage_totals
        on
            periods.period_type = stage_totals.period_type
            and periods.period_start = stage_totals.period_start
    left join stage_durations
        on
            periods.period_type = stage_durations.period_type
            and periods.period_start = stage_durations.period_start
    left join promoter_durations
        on
            periods.period_type = promoter_durations.period_type
            and periods.period_start = promoter_durations.period_start
    left join data_volume
        on
            periods.period_type = data_volume.period_type
            and periods.period_start = data_volume.period_start
    left join model_quality
        on
            periods.period_type = model_quality.period_type
            and periods.period_start = model_quality.period_start
    left join recommendation_activity
        on
            periods.period_type = recommendation_activity.period_type
            and periods.period_start = recommendation_activity.period_start
    left join measurement_activity
        on
            periods.period_type = measurement_activity.period_type
            and periods.period_start = measurement_activity.period_start
    left join outcome_lift
        on
            periods.period_type = outcome_lift.period_type
            and periods.period_start = outcome_lift.period_start

),

with_growth as (

    select
        combined.*,
        {{ safe_divide(
            'prospects - lag(prospects) over (partition by period_type order by period_start)',
            'lag(prospects) over (partition by period_type order by period_start)',
        ) }} as prospects_growth,
        {{ safe_divide(
            'customers - lag(customers) over (partition by period_type order by period_start)',
            'lag(customers) over (partition by period_type order by period_start)',
        ) }} as customers_growth,
        {{ safe_divide(
            'promoters - lag(promoters) over (partition by period_type order by period_start)',
            'lag(promoters) over (partition by period_type order by period_start)',
        ) }} as promoters_growth,
        {{ safe_divide(
            'strangers - lag(strangers) over (partition by period_type order by period_start)',
            'lag(strangers) over (partition by period_type order by period_start)',
        ) }} as strangers_growth

    from combined

),

final as (

    select
        {{ dbt.concat([
            'with_growth.period_type',
            "':'",
            'cast(with_growth.period_start as ' ~ dbt.type_string() ~ ')',
        ]) }}
            as period_key,
        with_growth.*,
        case
            when
                with_growth.customers_total < {{ var('flywheel_phase_min_customers', 50) }}
                or coalesce(with_growth.model_metrics_beating_baseline_share, 0) = 0
                then 'accumulation'
            when
                with_growth.recommendations_measured_total
                >= {{ var('flywheel_phase_min_recommendations_measured', 3) }}
                and coalesce(with_growth.prospects_growth, 0) >= 0
                then 'self_sustaining'
            else 'acceleration'
        end as phase

    from with_growth

)

select * from final
