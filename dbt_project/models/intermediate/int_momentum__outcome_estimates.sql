{#
    The measured outcomes of recommendations as distinct estimates, one row per
    estimate. The outcome asset measures a matched cohort (leads followed up the same day,
    deals attended …) once and writes the cohort's estimate on every recommendation of it:
    identical rows (same metric, estimated_lift, ci_low, ci_high and measured_at) are one
    estimate, so a cohort of 40 counts once in realised lift, like a single recommendation.
    Lifts and intervals are signed so that positive means the action worked (fewer
    conversations on a topic is the point of new content).
#}
with

recommendation_outcomes as (

    select * from {{ ref('recommendation_outcomes') }}

),

estimates as (

    select
        metric,
        estimated_lift,
        ci_low,
        ci_high,
        measured_at,
        -- unknown direction (a table written before the column existed): higher is better
        {{ dbt.bool_or('coalesce(higher_is_better, true) = false') }} as lower_is_better,
        count(distinct recommendation_id) as recommendations,
        count(*) as outcome_rows

    from recommendation_outcomes
    where
        estimated_lift is not null
        and measured_at is not null
    group by metric, estimated_lift, ci_low, ci_high, measured_at

),

favourable as (

    select
        metric,
        estimated_lift,
        ci_low,
        ci_high,
        measured_at,
        lower_is_better,
        recommendations,
        outcome_rows,
        case when lower_is_better then -estimated_lift else estimated_lift end
            as favourable_lift,
        case when lower_is_better then -ci_high else ci_low end as favourable_ci_low,
        case when lower_is_better then -ci_low else ci_high end as favourable_ci_high

    from estimates

),

final as (

    select
        {{ hash_key([
            'metric',
            'measured_at',
            'estimated_lift',
            "coalesce(cast(ci_low as " ~ dbt.type_string() ~ "), '')",
            "coalesce(cast(ci_high as " ~ dbt.type_string() ~ "), '')",
        ]) }} as estimate_id,
        metric,
        measured_at,
        cast(measured_at as date) as measured_date,
        estimated_lift,
        ci_low,
        ci_high,
        lower_is_better,
        favourable_lift,
        favourable_ci_low,
        favourable_ci_high,
        favourable_lift > 0 as is_working,
        coalesce(favourable_ci_low > 0, false) as is_proven,
        cast(recommendations as {{ dbt.type_bigint() }}) as recommendations,
        cast(outcome_rows as {{ dbt.type_bigint() }}) as outcome_rows

    from favourable

)

select * from final
