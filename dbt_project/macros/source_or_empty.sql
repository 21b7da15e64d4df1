{#
    source_or_empty(source_name, table_name)

    Renders `source(source_name, table_name)` when the table exists, and otherwise an
    empty relation with the columns and data types declared for that source table in its
    sources yml. This keeps the lineage (the source() call is always made) while letting
    the project build when a source is not configured (SPEC §3: in live mode every source
    is optional) or an insight asset has not written its `ml` table yet (cold start).

    An `ml` column that exists with type NULL is read cast to its declared type: the
    insight assets write pandas frames, whose column types follow the data, so a column
    with no value at all (no page close to any topic, no outcome measured yet) arrives
    without a type, and the marts' contracts need the same types whatever the data.
#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set exists = relation_exists(relation) -%}
    {%- if exists and (source_name != 'ml' or relation.is_cte) -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set declared = [] -%}
    {%- for node in graph.get('sources', {}).values() -%}
        {%- if node.source_name == source_name and node.name == table_name -%}
            {%- for column in node.columns.values() if column.data_type -%}
                {%- do declared.append(column) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if exists -%}
        {%- set untyped = [] -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- if column.dtype | replace('"', '') | upper == 'NULL' -%}
                {%- do untyped.append(column.name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set casts = [] -%}
        {%- for column in declared if column.name in untyped -%}
            {%- do casts.append(
                'cast(' ~ column.name ~ ' as ' ~ portable_type(column.data_type) ~ ') as '
                ~ column.name
            ) -%}
        {%- endfor -%}
        {%- if casts | length == 0 -%}
            {{ return(relation) }}
        {%- endif -%}
        {{ return(
            '(select * replace (' ~ casts | join(', ') ~ ') from ' ~ relation ~ ') as '
            ~ table_name
        ) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for column in declared -%}
        {%- do columns.append(
            'cast(null as ' ~ portable_type(column.data_type) ~ ') as ' ~ column.name
        ) -%}
    {%- endfor -%}
    {%- if columns | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            'Source ' ~ source_name ~ '.' ~ table_name
            ~ ' does not exist and declares no typed columns to stand in for it.'
        ) }}
    {%- endif -%}
    {{ log(
        'source ' ~ source_name ~ '.' ~ table_name ~ ' not found: reading it as empty',
        info=true,
    ) }}
    {#- `limit 0` rather than `where 1 = 0`: some engines (BigQuery) reject a WHERE without FROM -#}
    {{ return('(select ' ~ columns | join(', ') ~ ' limit 0) as empty_' ~ table_name) }}
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
