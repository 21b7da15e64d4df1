{#
    One row per member of a list recommendation (ml.recommendation_targets): the leads,
    deals, customers or promoters a list asks a team to act on, and the random holdout
    left alone to measure the lift against. With the list's type and status beside it.
    Empty until a list has been proposed.
#}
with

targets as (

    select * from {{ ref('stg_ml__recommendation_targets') }}

),

recommendations as (

    select * from {{ ref('recommendations') }}

),

final as (

    select
        targets.recommendation_id,
        targets.target_id,
        recommendations.type,
        recommendations.status,
        targets.target_type,
        -- a 4-byte integer, as the contract states (the staging model's is 8 bytes)
        cast(targets.position as {{ dbt.type_int() }}) as position,
        targets.reason,
        targets.expected_impact,
        targets.score,
        targets.holdout

    from targets
    left join recommendations
        on targets.recommendation_id = recommendations.recommendation_id

)

select * from final
