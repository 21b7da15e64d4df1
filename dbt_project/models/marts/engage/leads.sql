{#
    One row per lead: a person of the identity spine, keyed by its surviving contact_id
    (duplicate CRM contacts with the same email are folded into the earliest one).
    lead_score comes from ml.lead_scores (null until the lead-scoring asset has run).
#}
with

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

persons as (

    select * from {{ ref('int_identity__persons') }}
    where identifier_type = 'contact_id'

),

conversations as (

    select * from {{ ref('int_conversations__texts') }}

),

lifecycle_events as (

    select * from {{ ref('int_lifecycle__events') }}

),

lead_scores as (

    select * from {{ ref('stg_ml__lead_scores') }}

),

merged_contacts as (

    select
        person_id,
        count(*) as merged_contacts

    from persons
    group by person_id

),

conversation_counts as (

    select
        person_id,
        count(*) as conversations,
        max(started_at) as last_conversation_at

    from conversations
    where person_id is not null
    group by person_id

),

customers as (

    select
        person_id,
        entered_at as converted_at

    from lifecycle_events
    where stage = 'customer'

),

latest_scores as (

    {{ latest_model_output('lead_scores', ['contact_id']) }}

),

final as (

    select
        contacts.contact_id,
        contacts.created_at,
        contacts.channel_group,
        contacts.source,
        contacts.medium,
        contacts.campaign,
        contacts.first_landing_page,
        contacts.company,
        contacts.industry,
        contacts.company_size,
        contacts.country,
        merged_contacts.merged_contacts,
        coalesce(conversation_counts.conversations, 0) as conversations,
        conversation_counts.last_conversation_at,
        latest_scores.lead_score,
        latest_scores.data_through as lead_score_data_through,
        customers.converted_at is not null as is_customer,
        customers.converted_at

    from contacts
    inner join merged_contacts
        on contacts.contact_id = merged_contacts.person_id
    left join conversation_counts
        on contacts.contact_id = conversation_counts.person_id
    left join customers
        on contacts.contact_id = customers.person_id
    left join latest_scores
        on contacts.contact_id = latest_scores.contact_id

)

select * from final
