{#
    One row per recommendation × metric measured by the outcome asset
    (ml.recommendation_outcomes), with the recommendation's type and target beside it.
    Empty until an outcome has been measured.
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
        cast(outcomes.baseline_value as {{ dbt.type_float() }}) as baseline_value,
        cast(outcomes.observed_value as {{ dbt.type_float() }}) as observed_value,
        cast(outcomes.control_change as {{ dbt.type_float() }}) as control_change,
        cast(outcomes.estimated_lift as {{ dbt.type_float() }}) as estimated_lift,
        cast(outcomes.ci_low as {{ dbt.type_float() }}) as ci_low,
        cast(outcomes.ci_high as {{ dbt.type_float() }}) as ci_high,
        cast(outcomes.n as {{ dbt.type_bigint() }}) as n,
        outcomes.method,
        cast(outcomes.measured_at as {{ dbt.type_timestamp() }}) as measured_at

    from outcomes
    left join recommendations
        on outcomes.recommendation_id = recommendations.recommendation_id

)

select * from final
