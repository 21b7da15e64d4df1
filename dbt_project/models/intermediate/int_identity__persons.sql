{#
    Person spine. One row per identifier (identifier_type × identifier_value) mapping every
    CRM contact_id, normalised email and ga_client_id to one person_id.

    Merge rule (deterministic): CRM contacts that share a normalised email are one person,
    whose person_id is the contact_id of the earliest of them (created_at, then contact_id
    ascending). Contacts without an email are their own person. A ga_client_id seen on
    several persons belongs to the earliest of them (same ordering).
#}
with

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

ranked_contacts as (

    select
        contact_id,
        email,
        ga_client_id,
        created_at,
        case
            when email is null then contact_id
            else first_value(contact_id) over (
                partition by email
                order by created_at asc nulls last, contact_id asc
                rows between unbounded preceding and unbounded following
            )
        end as person_id

    from contacts

),

persons as (

    select
        person_id,
        min(created_at) as person_created_at

    from ranked_contacts
    group by person_id

),

contact_identifiers as (

    select
        'contact_id' as identifier_type,
        contact_id as identifier_value,
        person_id,
        created_at as identifier_seen_at

    from ranked_contacts

),

email_identifiers as (

    select
        'email' as identifier_type,
        email as identifier_value,
        min(person_id) as person_id,
        min(created_at) as identifier_seen_at

    from ranked_contacts
    where email is not null
    group by email

),

ga_client_candidates as (

    select
        ranked_contacts.ga_client_id,
        ranked_contacts.person_id,
        ranked_contacts.created_at,
        row_number() over (
            partition by ranked_contacts.ga_client_id
            order by
                persons.person_created_at asc nulls last,
                ranked_contacts.person_id asc
        ) as person_rank

    from ranked_contacts
    inner join persons
        on ranked_contacts.person_id = persons.person_id
    where ranked_contacts.ga_client_id is not null

),

ga_client_identifiers as (

    select
        'ga_client_id' as identifier_type,
        ga_client_id as identifier_value,
        person_id,
        created_at as identifier_seen_at

    from ga_client_candidates
    where person_rank = 1

),

unioned as (

    select * from contact_identifiers
    union all
    select * from email_identifiers
    union all
    select * from ga_client_identifiers

),

final as (

    select
        {{ dbt.concat(['identifier_type', "':'", 'identifier_value']) }}
            as identifier_key,
        identifier_type,
        identifier_value,
        person_id,
        identifier_seen_at

    from unioned

)

select * from final
