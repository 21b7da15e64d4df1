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
        coalesce(nullif(trim(page_path), ''), '(not set)') as page_path,
        coalesce(nullif(trim(page_title), ''), '(not set)') as page_title,
        cast(screen_page_views as {{ dbt.type_bigint() }}) as page_views,
        cast(sessions as {{ dbt.type_bigint() }}) as sessions,
        cast(engaged_sessions as {{ dbt.type_bigint() }}) as engaged_sessions,
        cast(key_events as {{ type_double() }}) as key_events,
        cast(is_sampled as {{ dbt.type_boolean() }}) as is_sampled,
        cast(
            subject_to_thresholding as {{ dbt.type_boolean() }}
        ) as is_thresholded,
        cast(has_other_row as {{ dbt.type_boolean() }}) as has_other_row,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
