{#
    NPS responses, one row per response, each with the person who answered (macro
    assign_person): the surviving contact_id of the response's contact in the identity
    spine (int_identity__persons), the contact_id itself when the CRM contacts do not know
    it, null for a response without a contact. The one place NPS answers meet persons,
    read by the promoter rule and the delight and advocate marts.
#}
with

nps_responses as (

    select * from {{ ref('stg_crm__nps_responses') }}

),

person_nps_responses as (

    {{ assign_person('nps_responses') }}

),

final as (

    select
        nps_response_id,
        contact_id,
        person_id,
        responded_at,
        score,
        nps_category

    from person_nps_responses

)

select * from final
