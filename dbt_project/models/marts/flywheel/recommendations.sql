{#
    One row per recommendation proposed by the insight assets. status is the latest
    operator decision (int_recommendations__decisions, latest decided_at wins) or 'proposed'
    when nobody has decided yet; a done recommendation whose outcome the pipeline has
    measured (ml.recommendation_outcomes) is 'measured', since its first measurement.
#}
with

candidates as (

    select * from {{ source_or_empty('ml', 'recommendation_candidates') }}

),

decisions as (

    select * from {{ ref('int_recommendations__decisions') }}

),

-- one row per measured recommendation (an outcome has a row per metric)
outcomes as (

    select
        recommendation_id,
        min(measured_at) as first_measured_at

    from {{ source_or_empty('ml', 'recommendation_outcomes') }}
    group by recommendation_id

),

final as (

    select
        cast(candidates.recommendation_id as {{ dbt.type_string() }})
            as recommendation_id,
        cast(candidates.created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(candidates.cycle as {{ dbt.type_int() }}) as cycle,
        candidates.type,
        candidates.target_type,
        cast(candidates.target_id as {{ dbt.type_string() }}) as target_id,
        candidates.action,
        candidates.rationale,
        candidates.brief,
        cast(candidates.expected_impact as {{ type_double() }})
            as expected_impact,
        candidates.impact_unit,
        cast(candidates.priority as {{ dbt.type_int() }}) as priority,
        cast(candidates.confidence as {{ type_double() }}) as confidence,
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
                when decisions.status = 'done'
                    then cast(outcomes.first_measured_at as {{ dbt.type_timestamp() }})
            end
        ) as measured_at

    from candidates
    left join decisions
        on candidates.recommendation_id = decisions.recommendation_id
    left join outcomes
        on candidates.recommendation_id = outcomes.recommendation_id

)

select * from final
