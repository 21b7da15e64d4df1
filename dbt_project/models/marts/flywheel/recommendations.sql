{#
    One row per recommendation proposed by the insight assets. status is the latest
    operator decision (int_recommendations__decisions, latest decided_at wins) or 'proposed'
    when nobody has decided yet; a done recommendation whose outcome the pipeline has
    measured (ml.recommendation_outcomes) is 'measured', since its first measurement.
#}
with

candidates as (

    select * from {{ ref('stg_ml__recommendation_candidates') }}

),

decisions as (

    select * from {{ ref('int_recommendations__decisions') }}

),

-- one row per measured recommendation (an outcome has a row per metric)
outcomes as (

    select
        recommendation_id,
        min(measured_at) as first_measured_at

    from {{ ref('stg_ml__recommendation_outcomes') }}
    group by recommendation_id

),

final as (

    select
        candidates.recommendation_id,
        candidates.created_at,
        -- 4-byte integers, as the contract states (the staging model's are 8 bytes)
        cast(candidates.cycle as {{ dbt.type_int() }}) as cycle,
        candidates.type,
        candidates.target_type,
        candidates.target_id,
        candidates.action,
        candidates.rationale,
        candidates.brief,
        candidates.expected_impact,
        candidates.impact_unit,
        cast(candidates.priority as {{ dbt.type_int() }}) as priority,
        candidates.confidence,
        case
            when decisions.status = 'done' and outcomes.recommendation_id is not null
                then 'measured'
            else coalesce(decisions.status, 'proposed')
        end as status,
        decisions.status_changed_at,
        decisions.decision_note,
        decisions.accepted_at,
        decisions.done_at,
        coalesce(
            decisions.measured_at,
            case
                when decisions.status = 'done' then outcomes.first_measured_at
            end
        ) as measured_at

    from candidates
    left join decisions
        on candidates.recommendation_id = decisions.recommendation_id
    left join outcomes
        on candidates.recommendation_id = outcomes.recommendation_id

)

select * from final
