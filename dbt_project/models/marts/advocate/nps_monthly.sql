{#
    One row per calendar month with NPS responses. nps = 100 × (promoters − detractors) /
    responses, over every response of the month (a contact answering twice counts twice).
#}
with

nps_responses as (

    select * from {{ ref('stg_crm__nps_responses') }}

),

final as (

    select
        cast({{ dbt.date_trunc('month', 'responded_at') }} as date) as month,
        count(*) as responses,
        cast(sum(case when nps_category = 'promoter' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as promoters,
        cast(sum(case when nps_category = 'passive' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as passives,
        cast(sum(case when nps_category = 'detractor' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as detractors,
        100.0 * {{ safe_divide(
            "sum(case when nps_category = 'promoter' then 1 else 0 end)"
            ~ " - sum(case when nps_category = 'detractor' then 1 else 0 end)",
            'count(*)',
        ) }} as nps,
        avg(cast(score as {{ type_double() }})) as avg_score

    from nps_responses
    where responded_at is not null
    group by cast({{ dbt.date_trunc('month', 'responded_at') }} as date)

)

select * from final
