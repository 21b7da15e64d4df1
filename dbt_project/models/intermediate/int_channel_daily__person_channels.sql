{#
    The acquisition channel of each person: the channel group of the person's surviving
    CRM contact (the first contact record of the person, int_identity__persons), with the
    contact's created_at. Persons the CRM does not know have no row.
#}
with

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

persons as (

    select * from {{ ref('int_identity__persons') }}
    where identifier_type = 'contact_id'

),

-- the first contact record of each person carries its acquisition channel
final as (

    select
        contacts.contact_id as person_id,
        contacts.channel_group,
        contacts.created_at

    from contacts
    inner join persons
        on
            contacts.contact_id = persons.identifier_value
            and contacts.contact_id = persons.person_id

)

select * from final
