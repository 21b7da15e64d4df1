with

conversations as (

    select * from {{ ref('int_conversations__texts') }}

),

topic_assignments as (

    select * from {{ ref('stg_ml__conversation_topic_assignments') }}

),

topics as (

    select * from {{ ref('stg_ml__conversation_topics') }}

),

latest_assignments as (

    {{ latest_model_output('topic_assignments', ['conversation_id']) }}

),

final as (

    select
        conversations.conversation_id,
        conversations.started_at,
        conversations.contact_id,
        conversations.channel,
        conversations.message_count,
        conversations.user_message_count,
        -- a 4-byte integer, as in engage.conversation_topics
        cast(latest_assignments.topic_id as {{ dbt.type_int() }}) as topic_id,
        topics.label as topic_label,
        conversations.resolved,
        conversations.handed_off,
        conversations.csat

    from conversations
    left join latest_assignments
        on conversations.conversation_id = latest_assignments.conversation_id
    left join topics
        on latest_assignments.topic_id = topics.topic_id

)

select * from final
