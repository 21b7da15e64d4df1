with

source as (

    select * from {{ source_or_empty('raw', 'crm_deal_stage_history') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['deal_id', 'stage', 'entered_at']) }}

),

renamed as (

    select
        {{ dbt.hash(dbt.concat([
            'cast(deal_id as ' ~ dbt.type_string() ~ ')',
            "'|'",
            'lower(trim(stage))',
            "'|'",
            'cast(entered_at as ' ~ dbt.type_string() ~ ')',
        ])) }} as stage_change_id,
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        lower(trim(stage)) as stage,
        cast(entered_at as {{ dbt.type_timestamp() }}) as entered_at,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
