{#
    One row per recommendation × metric measured by the outcome asset
    (ml.recommendation_outcomes), with the recommendation's type and target beside it.
    Empty until an outcome has been measured: a recommendation is measured once its
    measurement window after done_at has ended in the data.
#}
with

outcomes as (

    select * from {{ source_or_empty('ml', 'recommendation_outcomes') }}

),

recommendations as (

    select * from {{ ref('recommendations') }}

),

final as (

    select
        cast(outcomes.recommendation_id as {{ dbt.type_string() }})
            as recommendation_id,
        cast(outcomes.metric as {{ dbt.type_string() }}) as metric,
        recommendations.type,
        recommendations.target_type,
        recommendations.target_id,
        cast(outcomes.baseline_value as {{ type_double() }}) as baseline_value,
        cast(outcomes.observed_value as {{ type_double() }}) as observed_value,
        cast(outcomes.control_change as {{ type_double() }}) as control_change,
        cast(outcomes.estimated_lift as {{ type_double() }}) as estimated_lift,
        cast(outcomes.ci_low as {{ type_double() }}) as ci_low,
        cast(outcomes.ci_high as {{ type_double() }}) as ci_high,
        cast(outcomes.n as {{ dbt.type_bigint() }}) as n,
        outcomes.method,
        cast(outcomes.measured_at as {{ dbt.type_timestamp() }}) as measured_at,
        -- optional: a table written before the column existed reads it as unknown, which
        -- momentum counts as higher is better
        {{ optional_column(
            source('ml', 'recommendation_outcomes'),
            'higher_is_better',
            dbt.type_boolean(),
        ) }} as higher_is_better

    from outcomes
    left join recommendations
        on outcomes.recommendation_id = recommendations.recommendation_id

)

select * from final
