{#- one ml.<model>_runs table per insight model (docs/contracts.md) -#}
{%- set runs_tables = [
    'conversation_topics_runs',
    'lead_scoring_runs',
    'deal_scoring_runs',
    'customer_value_runs',
    'search_ctr_curve_runs',
] -%}

with

-- columns by name: each runs table is written by its own asset, column order is no contract
model_runs as (

    {% for table in runs_tables %}
        select
            run_id,
            model,
            trained_at,
            train_rows,
            holdout_rows,
            metric,
            value,
            baseline_value,
            data_through,
            served_by,
            serving_reason
        from {{ source_or_empty('ml', table) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

classified as (

    select
        *,
        {{ metric_kind('metric') }} as metric_kind

    from model_runs

),

final as (

    select
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(metric as {{ dbt.type_string() }}) as metric,
        cast(model as {{ dbt.type_string() }}) as model,
        cast(trained_at as {{ dbt.type_timestamp() }}) as trained_at,
        cast(train_rows as {{ dbt.type_bigint() }}) as train_rows,
        cast(holdout_rows as {{ dbt.type_bigint() }}) as holdout_rows,
        cast(value as {{ type_double() }}) as value,
        cast(baseline_value as {{ type_double() }}) as baseline_value,
        cast(value as {{ type_double() }}) - cast(baseline_value as {{ type_double() }})
            as difference_from_baseline,
        cast(metric_kind as {{ dbt.type_string() }}) as metric_kind,
        -- only quality metrics beat a baseline: a count above its stated minimum does not
        case
            when value is null or baseline_value is null then null
            when metric_kind = 'higher_is_better' then value > baseline_value
            when metric_kind = 'lower_is_better' then value < baseline_value
        end as beats_baseline,
        cast(data_through as date) as data_through,
        cast(served_by as {{ dbt.type_string() }}) as served_by,
        cast(serving_reason as {{ dbt.type_string() }}) as serving_reason

    from classified

)

select * from final
