with

source as (

    select * from {{ source_or_empty('raw', 'crm_orders') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['order_id']) }}

),

renamed as (

    select
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        cast(ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,
        cast(revenue as {{ type_double() }}) as revenue,
        cast(items as {{ dbt.type_int() }}) as items,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
