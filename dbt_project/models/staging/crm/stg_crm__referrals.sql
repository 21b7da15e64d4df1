with

source as (

    select * from {{ source_or_empty('raw', 'crm_referrals') }}

),

deduplicated as (

    {{ dedupe_latest('source', ['referrer_contact_id', 'referred_contact_id']) }}

),

renamed as (

    select
        {{ hash_key(['referrer_contact_id', 'referred_contact_id']) }} as referral_id,
        cast(referrer_contact_id as {{ dbt.type_string() }})
            as referrer_contact_id,
        cast(referred_contact_id as {{ dbt.type_string() }})
            as referred_contact_id,
        cast(referred_at as {{ dbt.type_timestamp() }}) as referred_at,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from deduplicated

)

select * from renamed
