{#
    stg_ml(table_name)

    The select of an `ml` staging model (models/staging/ml/stg_ml__<table_name>.sql): every
    column declared for the source ml.<table_name> in models/staging/_ml__sources.yml, in
    that order, cast to its declared type (portable_type). The sources yml, the staging
    models and their contracts are generated from one registry, flywheel_pipeline/tables.py.

    - A table its asset has not written yet reads as empty with these columns
      (source_or_empty), so a cold start builds.
    - A column declared optional (`config: meta: optional: true`: added after tables were
      written without it) that the table lacks reads as a typed null, as optional_column
      does for raw sources; any other declared column missing fails the build, naming it.
    - The insight assets write pandas frames, whose column types follow the data: a column
      with no value at all may arrive as type NULL. The cast gives it its declared type, so
      the contracts downstream hold whatever the data.

    At parse time (no graph, no warehouse) it renders a plain select of the source.
#}
{% macro stg_ml(table_name) -%}
    {%- set relation = source('ml', table_name) -%}
    {%- if not execute -%}
        {{ return('select * from ' ~ relation) }}
    {%- endif -%}
    {#- a CTE (a unit test's fixture) or a missing table has every declared column -#}
    {%- set present = none -%}
    {%- if not relation.is_cte and relation_exists(relation) -%}
        {%- set present = adapter.get_columns_in_relation(relation)
            | map(attribute='name') | map('lower') | list -%}
    {%- endif -%}
    {%- set casts = [] -%}
    {%- for column in source_columns('ml', table_name) -%}
        {%- set value = column.name -%}
        {%- if present is not none and column.name | lower not in present -%}
            {%- if not column.meta.get('optional') -%}
                {{ exceptions.raise_compiler_error(
                    relation ~ ' lacks the column ' ~ column.name ~ ' declared for it in'
                    ~ ' flywheel_pipeline/tables.py: run its asset again, or declare the'
                    ~ ' column optional there.'
                ) }}
            {%- endif -%}
            {%- set value = 'null' -%}
        {%- endif -%}
        {%- do casts.append(
            'cast(' ~ value ~ ' as ' ~ portable_type(column.data_type) ~ ') as ' ~ column.name
        ) -%}
    {%- endfor -%}
select
    {{ casts | join(',\n    ') }}
from {{ source_or_empty('ml', table_name) }}
{%- endmacro %}
