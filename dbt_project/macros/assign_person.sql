{#
    assign_person(relation, contact_column='contact_id', person_column='person_id')

    Selects every row of `relation` (a CTE) plus a `person_column` column: the person of
    the row's CRM contact (`contact_column`) in the identity spine (int_identity__persons:
    duplicate contacts with the same email are one person, keyed by the earliest
    contact_id). A contact_id the CRM contacts do not know (an order, deal or NPS answer
    of a contact missing from the export) counts for a person of its own, whose person_id
    is that contact_id; a row without a contact has a null person_id.

    The one rule that turns a contact_id into a person: orders and NPS answers get theirs
    once (int_crm__person_orders, int_crm__person_nps_responses); deals and both ends of a
    referral call it where they are read.
#}
{% macro assign_person(relation, contact_column='contact_id', person_column='person_id') -%}
    select
        {{ relation }}.*,
        coalesce(
            contact_persons.person_id, {{ relation }}.{{ contact_column }}
        ) as {{ person_column }}
    from {{ relation }}
    left join {{ ref('int_identity__persons') }} as contact_persons
        on
            contact_persons.identifier_type = 'contact_id'
            and {{ relation }}.{{ contact_column }} = contact_persons.identifier_value
{%- endmacro %}
