{#
    One row per member of a list recommendation (ml.recommendation_targets): the leads,
    deals, customers or promoters a list asks a team to act on, and the random holdout
    left alone to measure the lift against. With the list's type and status beside it.
    Empty until a list has been proposed.
#}
with

targets as (

    select * from {{ source_or_empty('ml', 'recommendation_targets') }}

),

recommendations as (

    select * from {{ ref('recommendations') }}

),

final as (

    select
        cast(targets.recommendation_id as {{ dbt.type_string() }})
            as recommendation_id,
        cast(targets.target_id as {{ dbt.type_string() }}) as target_id,
        recommendations.type,
        recommendations.status,
        cast(targets.target_type as {{ dbt.type_string() }}) as target_type,
        cast(targets.position as {{ dbt.type_int() }}) as position,
        cast(targets.reason as {{ dbt.type_string() }}) as reason,
        cast(targets.expected_impact as {{ type_double() }}) as expected_impact,
        cast(targets.score as {{ type_double() }}) as score,
        cast(targets.holdout as {{ dbt.type_boolean() }}) as holdout

    from targets
    left join recommendations
        on targets.recommendation_id = recommendations.recommendation_id

)

select * from final
