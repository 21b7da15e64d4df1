with

source as (

    select * from {{ source_or_empty('raw', 'ga4_site_daily') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['date'], lineage='api') }}

),

renamed as (

    select
        cast(date as date) as report_date,
        cast(sessions as {{ dbt.type_bigint() }}) as sessions,
        cast(new_users as {{ dbt.type_bigint() }}) as new_users,
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
