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
        {{ ga4_report_flags() }}

    from deduplicated

)

select * from renamed
