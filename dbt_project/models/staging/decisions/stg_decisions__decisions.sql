with

source as (

    select * from {{ source_or_empty('raw', 'decisions') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['recommendation_id', 'status', 'decided_at']) }}

),

renamed as (

    select
        {{ hash_key(['recommendation_id', 'lower(trim(status))', 'decided_at']) }}
            as decision_id,
        cast(recommendation_id as {{ dbt.type_string() }}) as recommendation_id,
        lower(trim(status)) as status,
        cast(decided_at as {{ dbt.type_timestamp() }}) as decided_at,
        note as decision_note,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
