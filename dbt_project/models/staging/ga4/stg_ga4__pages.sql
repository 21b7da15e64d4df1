with

source as (

    select * from {{ source_or_empty('raw', 'ga4_pages') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['date', 'page_path', 'page_title'], lineage='api') }}

),

renamed as (

    select
        cast(date as date) as report_date,
        {{ not_set_if_blank('page_path') }} as page_path,
        {{ not_set_if_blank('page_title') }} as page_title,
        cast(screen_page_views as {{ dbt.type_bigint() }}) as page_views,
        cast(sessions as {{ dbt.type_bigint() }}) as sessions,
        cast(engaged_sessions as {{ dbt.type_bigint() }}) as engaged_sessions,
        cast(key_events as {{ type_double() }}) as key_events,
        {{ ga4_report_flags() }}

    from deduplicated

)

select * from renamed
