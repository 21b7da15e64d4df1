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
        coalesce(nullif(trim(event_name), ''), '(not set)') as event_name,
        cast(event_count as {{ dbt.type_bigint() }}) as event_count,
        cast(total_users as {{ dbt.type_bigint() }}) as total_users,
        cast(is_sampled as {{ dbt.type_boolean() }}) as is_sampled,
        cast(
            subject_to_thresholding as {{ dbt.type_boolean() }}
        ) as is_thresholded,
        cast(has_other_row as {{ dbt.type_boolean() }}) as has_other_row,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
