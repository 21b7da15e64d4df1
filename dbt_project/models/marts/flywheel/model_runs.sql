{#- one staging model per insight model's runs table, ml.<model>_runs (flywheel_pipeline/tables.py
    RUNS): each casts its columns to the declared types, and reads metric_kind as null from a
    runs table written before that column existed, until its model runs again -#}
{%- set runs_tables = [
    'conversation_topics_runs',
    'lead_scoring_runs',
    'deal_scoring_runs',
    'customer_value_runs',
    'search_ctr_curve_runs',
] %}

with

model_runs as (

    {% for table in runs_tables %}
        select
            run_id,
            model,
            trained_at,
            train_rows,
            holdout_rows,
            metric,
            metric_kind,
            value,
            baseline_value,
            data_through,
            served_by,
            serving_reason
        from {{ ref('stg_ml__' ~ table) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        run_id,
        metric,
        model,
        trained_at,
        train_rows,
        holdout_rows,
        value,
        baseline_value,
        value - baseline_value as difference_from_baseline,
        metric_kind,
        -- only quality metrics beat a baseline: a count above its stated minimum does not
        case
            when value is null or baseline_value is null then null
            when metric_kind = 'higher_is_better' then value > baseline_value
            when metric_kind = 'lower_is_better' then value < baseline_value
        end as beats_baseline,
        data_through,
        served_by,
        serving_reason

    from model_runs

)

select * from final
