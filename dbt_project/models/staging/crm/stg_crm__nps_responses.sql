with

source as (

    select * from {{ source_or_empty('raw', 'crm_nps_responses') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['contact_id', 'responded_at']) }}

),

renamed as (

    select
        {{ hash_key(['contact_id', 'responded_at']) }} as nps_response_id,
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        cast(responded_at as {{ dbt.type_timestamp() }}) as responded_at,
        cast(score as {{ dbt.type_int() }}) as score,
        comment as nps_comment,
        case
            when score >= 9 then 'promoter'
            when score >= 7 then 'passive'
            when score >= 0 then 'detractor'
        end as nps_category,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
