{#
    The person behind an order is reached through its contact_id or, when that is empty or
    no CRM contact's (exports without one, such as Shopify's), through its email: contacts
    that share a normalised email are one person (int_identity__persons), so any of them
    leads to that person. contact_id is therefore the export's when it is a known contact,
    else a contact with the order's email, else the export's (a buyer unknown to the CRM).
#}
with

source as (

    select * from {{ source_or_empty('raw', 'crm_orders') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['order_id']) }}

),

contacts as (

    select
        contact_id,
        email

    from {{ ref('stg_crm__contacts') }}

),

email_contacts as (

    select
        email,
        min(contact_id) as contact_id

    from contacts
    where email is not null
    group by email

),

renamed as (

    select
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        {{ normalise_email(optional_column(
            source('raw', 'crm_orders'), 'email', dbt.type_string(),
        )) }} as email,
        cast(ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,
        cast(revenue as {{ type_double() }}) as revenue,
        cast(items as {{ dbt.type_int() }}) as items,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

),

resolved as (

    select
        renamed.order_id,
        coalesce(
            contacts.contact_id, email_contacts.contact_id, renamed.contact_id
        ) as contact_id,
        renamed.email,
        renamed.ordered_at,
        renamed.revenue,
        renamed.items,
        renamed.loaded_at

    from renamed
    left join contacts
        on renamed.contact_id = contacts.contact_id
    left join email_contacts
        on renamed.email = email_contacts.email

)

select * from resolved
