{#
    One row per recommendation × metric measured by the outcome asset
    (ml.recommendation_outcomes), with the recommendation's type and target beside it.
    Empty until an outcome has been measured: a recommendation is measured once its
    measurement window after done_at has ended in the data.
#}
with

outcomes as (

    select * from {{ ref('stg_ml__recommendation_outcomes') }}

),

recommendations as (

    select * from {{ ref('recommendations') }}

),

final as (

    select
        outcomes.recommendation_id,
        outcomes.metric,
        recommendations.type,
        recommendations.target_type,
        recommendations.target_id,
        outcomes.baseline_value,
        outcomes.observed_value,
        outcomes.control_change,
        outcomes.estimated_lift,
        outcomes.ci_low,
        outcomes.ci_high,
        outcomes.n,
        outcomes.method,
        outcomes.measured_at,
        -- null (unknown) when the table was written before the column existed, which
        -- momentum counts as higher is better (stg_ml__recommendation_outcomes)
        outcomes.higher_is_better

    from outcomes
    left join recommendations
        on outcomes.recommendation_id = recommendations.recommendation_id

)

select * from final
