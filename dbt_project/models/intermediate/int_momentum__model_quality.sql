{#
    Model quality per momentum period (period_type × period_start), as of the period end:
    for every model × metric the latest run whose data_through is not after period_end,
    and the share of those quality metrics beating their naive baseline. Periods before
    the first run have no row.
#}
with

periods as (

    select * from {{ ref('int_momentum__periods') }}

),

model_runs as (

    select * from {{ ref('model_runs') }}

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

final as (

    select
        period_type,
        period_start,
        cast(count(distinct model) as {{ dbt.type_bigint() }}) as models_trained,
        cast(count(distinct run_id) as {{ dbt.type_bigint() }}) as model_runs_total,
        avg(
            case
                when run_rank = 1 and beats_baseline then 1.0
                when run_rank = 1 and not beats_baseline then 0.0
            end
        ) as model_metrics_beating_baseline_share

    from period_model_runs
    group by period_type, period_start

)

select * from final
