{#
    source_or_empty(source_name, table_name)

    Renders `source(source_name, table_name)` when the table exists, and otherwise an
    empty relation with the columns and data types declared for that source table in its
    sources yml. This keeps the lineage (the source() call is always made) while letting
    the project build when a source is not configured (SPEC §3: in live mode every source
    is optional) or an insight asset has not written its `ml` table yet (cold start; the
    `ml` staging models, macro stg_ml, then cast every column to its declared type).
#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if relation_exists(relation) -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for column in source_columns(source_name, table_name) -%}
        {%- do columns.append(
            'cast(null as ' ~ portable_type(column.data_type) ~ ') as ' ~ column.name
        ) -%}
    {%- endfor -%}
    {{ log(
        'source ' ~ source_name ~ '.' ~ table_name ~ ' not found: reading it as empty',
        info=true,
    ) }}
    {#- `limit 0` rather than `where 1 = 0`: some engines (BigQuery) reject a WHERE without FROM -#}
    {{ return('(select ' ~ columns | join(', ') ~ ' limit 0) as empty_' ~ table_name) }}
{%- endmacro %}


{#
    source_columns(source_name, table_name): the columns declared with a data_type for a
    source table in its sources yml, in their order (graph.sources: call it only at
    execution). Fails when there are none, since nothing could stand in for the table.
#}
{% macro source_columns(source_name, table_name) -%}
    {%- set declared = [] -%}
    {%- for node in graph.get('sources', {}).values()
        if node.source_name == source_name and node.name == table_name -%}
        {%- for column in node.columns.values() if column.data_type -%}
            {%- do declared.append(column) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if declared | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            'Source ' ~ source_name ~ '.' ~ table_name
            ~ ' declares no typed columns in its sources yml.'
        ) }}
    {%- endif -%}
    {{ return(declared) }}
{%- endmacro %}


{#
    relation_exists(relation): true when the relation (a ref() or source()) exists in the
    warehouse. Outside execution (parse, compile without a connection, linting) it is
    assumed to exist, and so is a CTE: in a dbt unit test, source() and ref() render the
    test's fixture as a CTE, which the warehouse cannot know about.
#}
{% macro relation_exists(relation) -%}
    {%- if not execute or relation.is_cte -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set existing = adapter.get_relation(
        database=relation.database,
        schema=relation.schema,
        identifier=relation.identifier,
    ) -%}
    {{ return(existing is not none) }}
{%- endmacro %}
