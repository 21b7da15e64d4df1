with

decisions as (

    select * from {{ ref('stg_decisions__decisions') }}

),

ranked as (

    select
        recommendation_id,
        status,
        decided_at,
        decision_note,
        row_number() over (
            partition by recommendation_id
            -- at one instant (a simulated day accepts and does at once) the later step of
            -- proposed -> accepted/rejected -> done -> measured wins
            order by
                decided_at desc,
                loaded_at desc,
                case status
                    when 'measured' then 4 when 'done' then 3 when 'accepted' then 2
                    when 'rejected' then 2 else 1
                end desc,
                status asc
        ) as decision_rank

    from decisions

),

decision_times as (

    select
        recommendation_id,
        min(case when status = 'accepted' then decided_at end) as accepted_at,
        min(case when status = 'done' then decided_at end) as done_at,
        min(case when status = 'measured' then decided_at end) as measured_at,
        count(*) as decisions

    from decisions
    group by recommendation_id

),

final as (

    select
        decision_times.recommendation_id,
        ranked.status,
        ranked.decided_at as status_changed_at,
        ranked.decision_note,
        decision_times.accepted_at,
        decision_times.done_at,
        decision_times.measured_at,
        decision_times.decisions

    from decision_times
    inner join ranked
        on
            decision_times.recommendation_id = ranked.recommendation_id
            and ranked.decision_rank = 1

)

select * from final
