{#
    One row per CRM deal. win_probability is a typed null until a deal-scoring asset writes
    its output (the deal model is not in the ml contract yet).
#}
with

deals as (

    select * from {{ ref('stg_crm__deals') }}

),

persons as (

    select * from {{ ref('int_identity__persons') }}
    where identifier_type = 'contact_id'

),

stage_history as (

    select * from {{ ref('stg_crm__deal_stage_history') }}

),

data_through as (

    select max(coalesce(closed_at, created_at)) as data_through

    from deals

),

stage_changes as (

    select
        deal_id,
        count(*) as stage_changes,
        max(entered_at) as stage_entered_at

    from stage_history
    group by deal_id

),

final as (

    select
        deals.deal_id,
        coalesce(persons.person_id, deals.contact_id) as contact_id,
        deals.created_at,
        deals.stage,
        deals.amount,
        deals.is_closed,
        deals.is_won,
        deals.closed_at,
        {{ dbt.datediff(
            'deals.created_at',
            'coalesce(deals.closed_at, data_through.data_through)',
            'day',
        ) }} as days_open,
        coalesce(stage_changes.stage_changes, 0) as stage_changes,
        stage_changes.stage_entered_at,
        cast(null as {{ dbt.type_float() }}) as win_probability

    from deals
    cross join data_through
    left join persons
        on deals.contact_id = persons.identifier_value
    left join stage_changes
        on deals.deal_id = stage_changes.deal_id

)

select * from final
