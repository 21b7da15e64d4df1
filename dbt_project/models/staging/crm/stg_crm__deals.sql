with

source as (

    select * from {{ source_or_empty('raw', 'crm_deals') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['deal_id']) }}

),

renamed as (

    select
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        lower(trim(stage)) as stage,
        cast(amount as {{ type_double() }}) as amount,
        cast(closed_at as {{ dbt.type_timestamp() }}) as closed_at,
        cast(is_won as {{ dbt.type_boolean() }}) as is_won,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

),

final as (

    select
        deal_id,
        contact_id,
        created_at,
        stage,
        amount,
        closed_at,
        coalesce(
            closed_at is not null
            or is_won is not null
            or stage like 'closed%',
            false
        ) as is_closed,
        coalesce(is_won, stage = 'closed_won' or stage = 'closed won', false)
            as is_won,
        loaded_at

    from renamed

)

select * from final
