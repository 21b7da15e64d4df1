with

conversation_topics_runs as (

    select * from {{ source_or_empty('ml', 'conversation_topics_runs') }}

),

lead_scoring_runs as (

    select * from {{ source_or_empty('ml', 'lead_scoring_runs') }}

),

deal_scoring_runs as (

    select * from {{ source_or_empty('ml', 'deal_scoring_runs') }}

),

customer_value_runs as (

    select * from {{ source_or_empty('ml', 'customer_value_runs') }}

),

model_runs as (

    select * from conversation_topics_runs
    union all
    select * from lead_scoring_runs
    union all
    select * from deal_scoring_runs
    union all
    select * from customer_value_runs

),

final as (

    select
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(metric as {{ dbt.type_string() }}) as metric,
        cast(model as {{ dbt.type_string() }}) as model,
        cast(trained_at as {{ dbt.type_timestamp() }}) as trained_at,
        cast(train_rows as {{ dbt.type_bigint() }}) as train_rows,
        cast(holdout_rows as {{ dbt.type_bigint() }}) as holdout_rows,
        cast(value as {{ dbt.type_float() }}) as value,
        cast(baseline_value as {{ dbt.type_float() }}) as baseline_value,
        cast(value - baseline_value as {{ dbt.type_float() }})
            as difference_from_baseline,
        case
            when value is null or baseline_value is null then null
            when
                lower(metric) in (
                    {%- for name in var('flywheel_lower_is_better_metrics', []) %}
                        '{{ name }}'{% if not loop.last %},{% endif %}
                    {%- endfor %}
                )
                then value < baseline_value
            else value > baseline_value
        end as beats_baseline,
        cast(data_through as date) as data_through

    from model_runs

)

select * from final
