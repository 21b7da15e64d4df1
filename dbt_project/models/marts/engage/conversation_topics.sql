{#
    One row per topic discovered by the topic model (ml.conversation_topics), with the
    engagement statistics of the conversations assigned to it. trend_28d compares the
    last N days (var flywheel_recent_days) with the N days before, up to the last
    conversation date: (recent - previous) / previous, null when previous is 0.
    rank_volume and rank_rising come from the topic model (insights/topics.py,
    topic_trends): the most common topic of the last 28 days, and the fastest rising by the
    change of the add-one-smoothed log volume.
#}
{% set recent_days = var('flywheel_recent_days', 28) %}

with

topics as (

    select * from {{ ref('stg_ml__conversation_topics') }}

),

conversations as (

    select * from {{ ref('conversations') }}

),

-- the recent window: dates after before_recent; the previous one: after before_previous
-- up to before_recent (cast: dateadd returns a timestamp on some engines)
data_through as (

    select
        cast(max(started_at) as date) as data_through,
        cast(
            {{ dbt.dateadd('day', '-' ~ recent_days, 'cast(max(started_at) as date)') }}
            as date
        ) as before_recent,
        cast(
            {{ dbt.dateadd('day', '-' ~ (2 * recent_days), 'cast(max(started_at) as date)') }}
            as date
        ) as before_previous

    from conversations

),

topic_stats as (

    select
        conversations.topic_id,
        count(*) as conversations,
        sum(
            case
                when
                    cast(conversations.started_at as date) > data_through.before_recent
                    then 1
                else 0
            end
        ) as conversations_28d,
        sum(
            case
                when
                    cast(conversations.started_at as date) <= data_through.before_recent
                    and cast(conversations.started_at as date) > data_through.before_previous
                    then 1
                else 0
            end
        ) as conversations_prev_28d,
        avg(
            case
                when conversations.resolved then 1.0
                when not conversations.resolved then 0.0
            end
        ) as resolution_rate,
        avg(
            case
                when conversations.handed_off then 1.0
                when not conversations.handed_off then 0.0
            end
        ) as handoff_rate,
        avg(cast(conversations.csat as {{ type_double() }})) as avg_csat

    from conversations
    cross join data_through
    where conversations.topic_id is not null
    group by conversations.topic_id

),

assigned as (

    select count(*) as assigned_conversations
    from conversations
    where topic_id is not null

),

final as (

    select
        -- the staging model's types (flywheel_pipeline/tables.py), but 4-byte integers for
        -- the topic id and ranks, as the contract states
        cast(topics.topic_id as {{ dbt.type_int() }}) as topic_id,
        topics.label,
        topics.representative_question,
        topics.top_terms,
        cast(coalesce(topic_stats.conversations, 0) as {{ dbt.type_bigint() }}) as conversations,
        {{ safe_divide('topic_stats.conversations', 'assigned.assigned_conversations') }}
            as share,
        cast(coalesce(topic_stats.conversations_28d, 0) as {{ dbt.type_bigint() }})
            as conversations_28d,
        cast(coalesce(topic_stats.conversations_prev_28d, 0) as {{ dbt.type_bigint() }})
            as conversations_prev_28d,
        {{ safe_divide(
            'topic_stats.conversations_28d - topic_stats.conversations_prev_28d',
            'topic_stats.conversations_prev_28d',
        ) }} as trend_28d,
        cast(topics.rank_volume as {{ dbt.type_int() }}) as rank_volume,
        cast(topics.rank_rising as {{ dbt.type_int() }}) as rank_rising,
        topic_stats.resolution_rate,
        topic_stats.handoff_rate,
        topic_stats.avg_csat,
        topics.is_content_gap,
        topics.is_answered,
        topics.gap_evidence,
        topics.best_page,
        topics.best_page_similarity,
        topics.data_through

    from topics
    cross join assigned
    left join topic_stats
        on topics.topic_id = topic_stats.topic_id

)

select * from final
