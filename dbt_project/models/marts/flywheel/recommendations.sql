{#
    One row per recommendation proposed by the insight assets. status is the latest
    operator decision (stg_decisions__decisions, latest decided_at wins) or 'proposed'
    when nobody has decided yet.
#}
with

candidates as (

    select * from {{ source_or_empty('ml', 'recommendation_candidates') }}

),

decisions as (

    select * from {{ ref('stg_decisions__decisions') }}

),

ranked_decisions as (

    select
        recommendation_id,
        status,
        decided_at,
        decision_note,
        row_number() over (
            partition by recommendation_id
            order by decided_at desc, loaded_at desc, status asc
        ) as decision_rank

    from decisions

),

decision_times as (

    select
        recommendation_id,
        min(case when status = 'accepted' then decided_at end) as accepted_at,
        min(case when status = 'done' then decided_at end) as done_at,
        min(case when status = 'measured' then decided_at end) as measured_at

    from decisions
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
        cast(candidates.expected_impact as {{ type_double() }})
            as expected_impact,
        candidates.impact_unit,
        cast(candidates.priority as {{ dbt.type_int() }}) as priority,
        cast(candidates.confidence as {{ type_double() }}) as confidence,
        coalesce(ranked_decisions.status, 'proposed') as status,
        ranked_decisions.decided_at as status_changed_at,
        ranked_decisions.decision_note,
        decision_times.accepted_at,
        decision_times.done_at,
        decision_times.measured_at

    from candidates
    left join ranked_decisions
        on
            candidates.recommendation_id = ranked_decisions.recommendation_id
            and ranked_decisions.decision_rank = 1
    left join decision_times
        on candidates.recommendation_id = decision_times.recommendation_id

)

select * from final
