with

source as (

    select * from {{ source_or_empty('raw', 'gsc_search_analytics') }}

),

deduplicated as (

    {{ dedupe_latest(
        'source',
        ['date', 'query', 'page', 'country', 'device'],
        lineage='api',
    ) }}

),

renamed as (

    select
        cast(date as date) as report_date,
        coalesce(query, '(not set)') as search_query,
        coalesce(page, '(not set)') as page_url,
        {{ url_to_path('page') }} as page_path,
        coalesce(nullif(lower(trim(country)), ''), 'zzz') as country,
        coalesce(nullif(lower(trim(device)), ''), '(not set)') as device,
        cast(clicks as {{ dbt.type_bigint() }}) as clicks,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(ctr as {{ type_double() }}) as ctr,
        cast(position as {{ type_double() }}) as avg_position,
        lower(data_state) as data_state,
        cast(first_incomplete_date as date) as first_incomplete_date,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
