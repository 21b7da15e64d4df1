{#
    When each person identified themself: the earliest of their contacts' created_at
    (identifier_seen_at of the contact_id identifiers) and of their identified
    conversations. The prospect rule of int_lifecycle__events.
#}
with

identities as (

    select * from {{ ref('int_identity__persons') }}
    where identifier_type = 'contact_id'

),

conversations as (

    select * from {{ ref('int_conversations__texts') }}

),

prospect_signals as (

    select
        person_id,
        identifier_seen_at as signal_at

    from identities

    union all

    select
        person_id,
        started_at as signal_at

    from conversations
    where person_id is not null

),

final as (

    select
        person_id,
        min(signal_at) as entered_at

    from prospect_signals
    group by person_id

)

select * from final
