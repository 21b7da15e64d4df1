{#
    assign_person(relation, contact_column='contact_id')

    Selects every row of `relation` (a CTE) plus a `person_id` column: the person of the
    row's CRM contact in the identity spine (int_identity__persons: duplicate contacts with
    the same email are one person, keyed by the earliest contact_id). A contact_id the CRM
    contacts do not know (an order, deal or NPS answer of a contact missing from the
    export) counts for a person of its own, whose person_id is that contact_id; a row
    without a contact has a null person_id.
#}
{% macro assign_person(relation, contact_column='contact_id') -%}
    select
        {{ relation }}.*,
        coalesce(
            contact_persons.person_id, {{ relation }}.{{ contact_column }}
        ) as person_id
    from {{ relation }}
    left join {{ ref('int_identity__persons') }} as contact_persons
        on
            contact_persons.identifier_type = 'contact_id'
            and {{ relation }}.{{ contact_column }} = contact_persons.identifier_value
{%- endmacro %}
