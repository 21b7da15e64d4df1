{#
    hash_key(expressions)

    A row key made of several columns: the hash (dbt.hash, md5 on DuckDB) of the
    `expressions` (a list of SQL expressions) cast to strings and joined with '|'. The rule
    every staging model without a natural id (NPS responses, referrals, deal stage
    changes, operator decisions) and the outcome estimates build their key by. A null
    expression makes the key null: coalesce it first where one can be null.
#}
{% macro hash_key(expressions) -%}
    {%- set parts = [] -%}
    {%- for expression in expressions -%}
        {%- if not loop.first -%}
            {%- do parts.append("'|'") -%}
        {%- endif -%}
        {%- do parts.append('cast(' ~ expression ~ ' as ' ~ dbt.type_string() ~ ')') -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}
