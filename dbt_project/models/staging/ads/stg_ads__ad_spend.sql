with

source as (

    select * from {{ source_or_empty('raw', 'crm_ad_spend') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['date', 'source', 'medium', 'campaign']) }}

),

renamed as (

    select
        cast(date as date) as spend_date,
        {{ not_set_if_blank('source') }} as source,
        {{ not_set_if_blank('medium') }} as medium,
        {{ not_set_if_blank('campaign') }} as campaign,
        cast(spend as {{ type_double() }}) as spend,
        cast(impressions as {{ dbt.type_bigint() }}) as impressions,
        cast(clicks as {{ dbt.type_bigint() }}) as clicks,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

),

channel_grouped as (

    {{ assign_channel_group('renamed', 'source', 'medium') }}

)

select * from channel_grouped
