with

source as (

    select * from {{ source_or_empty('raw', 'conversation_messages') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['conversation_id', 'message_index']) }}

),

renamed as (

    select
        {{ dbt.concat([
            'cast(conversation_id as ' ~ dbt.type_string() ~ ')',
            "'-'",
            'cast(message_index as ' ~ dbt.type_string() ~ ')',
        ]) }} as message_id,
        cast(conversation_id as {{ dbt.type_string() }}) as conversation_id,
        cast(message_index as {{ dbt.type_int() }}) as message_index,
        lower(trim(role)) as message_role,
        text as message_text,
        cast(sent_at as {{ dbt.type_timestamp() }}) as sent_at,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
