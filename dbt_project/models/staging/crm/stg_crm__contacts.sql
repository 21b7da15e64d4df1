with

source as (

    select * from {{ source_or_empty('raw', 'crm_contacts') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['contact_id']) }}

),

renamed as (

    select
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        {{ normalise_email('email') }} as email,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        nullif(trim(source), '') as source,
        nullif(trim(medium), '') as medium,
        nullif(trim(campaign), '') as campaign,
        nullif(trim(ga_client_id), '') as ga_client_id,
        nullif(trim(company), '') as company,
        nullif(trim(industry), '') as industry,
        nullif(trim(company_size), '') as company_size,
        nullif(trim(country), '') as country,
        {{ optional_column(
            source('raw', 'crm_contacts'),
            'first_landing_page',
            dbt.type_string(),
        ) }} as first_landing_page,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

),

channel_grouped as (

    {{ assign_channel_group('renamed', 'source', 'medium') }}

)

select * from channel_grouped
