{#
    optional_column(relation, column_name, data_type)

    Raw file drops keep extra columns (SPEC §4), so some useful columns exist only for some
    users (e.g. `crm_contacts.first_landing_page`, which HubSpot-style exports and the demo
    write). This returns the column, cast to data_type, when the relation has it, and a
    typed null otherwise. Outside execution (parse, docs) it returns the typed null.
#}
{% macro optional_column(relation, column_name, data_type) -%}
    {%- set found = false -%}
    {%- if execute -%}
        {%- set columns = adapter.get_columns_in_relation(relation) -%}
        {%- set names = columns | map(attribute='name') | map('lower') | list -%}
        {%- set found = (column_name | lower) in names -%}
    {%- endif -%}
    {%- if found -%}
        cast({{ column_name }} as {{ data_type }})
    {%- else -%}
        cast(null as {{ data_type }})
    {%- endif -%}
{%- endmacro %}
