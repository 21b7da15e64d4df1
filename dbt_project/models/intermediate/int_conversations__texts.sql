{#
    One row per conversation with the text the topic model reads: user_text is the user
    messages joined with a single space in message order; first_user_text the customer's
    first message (what a content brief counts). person_id is resolved through the
    identity spine by contact_id, then email, then ga_client_id.
#}
with

conversations as (

    select * from {{ ref('stg_conversations__conversations') }}

),

messages as (

    select * from {{ ref('stg_conversations__messages') }}

),

identities as (

    select * from {{ ref('int_identity__persons') }}

),

message_stats as (

    select
        conversation_id,
        count(*) as message_count,
        sum(case when message_role = 'user' then 1 else 0 end)
            as user_message_count,
        min(sent_at) as first_message_at,
        max(sent_at) as last_message_at

    from messages
    group by conversation_id

),

-- Both texts in one aggregate that spills to disk (macros ordered_string_agg and
-- first_by): an ordered string_agg plus a row_number() window over every user message
-- ran out of dbt's memory_limit at demo scale 1000 (14 M user messages).
user_texts as (

    select
        conversation_id,
        {{ ordered_string_agg('message_text', "' '", 'message_index') }}
            as user_text,
        {{ first_by('message_text', 'message_index') }} as first_user_text

    from messages
    where message_role = 'user' and message_text is not null
    group by conversation_id

),

resolved as (

    select
        conversations.conversation_id,
        coalesce(
            by_contact.person_id, by_email.person_id, by_client.person_id
        ) as person_id

    from conversations
    left join identities as by_contact
        on
            by_contact.identifier_type = 'contact_id'
            and conversations.contact_id = by_contact.identifier_value
    left join identities as by_email
        on
            by_email.identifier_type = 'email'
            and conversations.contact_email = by_email.identifier_value
    left join identities as by_client
        on
            by_client.identifier_type = 'ga_client_id'
            and conversations.ga_client_id = by_client.identifier_value

),

final as (

    select
        conversations.conversation_id,
        conversations.started_at,
        conversations.channel,
        resolved.person_id,
        coalesce(resolved.person_id, conversations.contact_id) as contact_id,
        conversations.contact_email,
        conversations.ga_client_id,
        coalesce(user_texts.user_text, '') as user_text,
        user_texts.first_user_text,
        coalesce(message_stats.message_count, 0) as message_count,
        coalesce(message_stats.user_message_count, 0) as user_message_count,
        message_stats.first_message_at,
        message_stats.last_message_at,
        conversations.resolved,
        conversations.handed_off,
        conversations.csat

    from conversations
    left join resolved
        on conversations.conversation_id = resolved.conversation_id
    left join message_stats
        on conversations.conversation_id = message_stats.conversation_id
    left join user_texts
        on conversations.conversation_id = user_texts.conversation_id

)

select * from final
