with

source as (

    select * from {{ source_or_empty('raw', 'conversations') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['conversation_id']) }}

),

renamed as (

    select
        cast(conversation_id as {{ dbt.type_string() }}) as conversation_id,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        coalesce(nullif(lower(trim(channel)), ''), 'unknown') as channel,
        cast(nullif(trim(contact_id), '') as {{ dbt.type_string() }}) as contact_id,
        {{ normalise_email('contact_email') }} as contact_email,
        nullif(trim(ga_client_id), '') as ga_client_id,
        cast(resolved as {{ dbt.type_boolean() }}) as resolved,
        cast(handed_off as {{ dbt.type_boolean() }}) as handed_off,
        cast(csat as {{ dbt.type_int() }}) as csat,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
