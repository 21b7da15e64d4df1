with

source as (

    select * from {{ source_or_empty('raw', 'crm_deal_stage_history') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['deal_id', 'stage', 'entered_at']) }}

),

renamed as (

    select
        {{ hash_key(['deal_id', 'lower(trim(stage))', 'entered_at']) }} as stage_change_id,
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        lower(trim(stage)) as stage,
        cast(entered_at as {{ dbt.type_timestamp() }}) as entered_at,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
