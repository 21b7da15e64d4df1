-- A table, unlike the other staging models: deduplicating every message of every
-- conversation is the heaviest staging query (about 5 minutes for 29 M messages at demo
-- scale 1000), and as a view each of its data tests, int_conversations__texts and the
-- conversations mart tests ran it again.
{{ config(materialized='table') }}

with

source as (

    select * from {{ source_or_empty('raw', 'conversation_messages') }}

),

-- One message row of the line that delivered each conversation last: the same
-- rule (and so the same line) as stg_conversations__conversations.
latest_delivery as (

    {{ dedupe_latest('source', ['conversation_id']) }}

),

-- Every message of that line and none of any other: a conversation re-sent shorter
-- leaves no stale higher-index messages behind.
deduplicated as (

    select source.*
    from source
    inner join latest_delivery
        using (conversation_id, _loaded_at, _source_file, _line)

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
