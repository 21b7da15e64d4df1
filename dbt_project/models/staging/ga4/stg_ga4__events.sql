with

source as (

    select * from {{ source_or_empty('raw', 'ga4_events') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['date', 'event_name'], lineage='api') }}

),

renamed as (

    select
        cast(date as date) as report_date,
        {{ not_set_if_blank('event_name') }} as event_name,
        cast(event_count as {{ dbt.type_bigint() }}) as event_count,
        cast(total_users as {{ dbt.type_bigint() }}) as total_users,
        {{ ga4_report_flags() }}

    from deduplicated

)

select * from renamed
