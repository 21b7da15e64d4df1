{#
    Small cross-database helpers that dbt's own cross-database macros do not cover.
    Each one dispatches, so an adapter-specific version can be added without touching the
    models (see SPEC §9: the project stays portable).
#}

{# regex_matches(value, pattern): true when `value` contains a match of the regular
   expression `pattern` (anchor the pattern with ^…$ for a full match). #}
{% macro regex_matches(value, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'flywheel')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(value, pattern) -%}
    regexp_like({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro duckdb__regex_matches(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro postgres__regex_matches(value, pattern) -%}
    ({{ value }} ~ {{ pattern }})
{%- endmacro %}

{% macro bigquery__regex_matches(value, pattern) -%}
    regexp_contains({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regex_matches(value, pattern) -%}
    ({{ value }} rlike {{ pattern }})
{%- endmacro %}

{# Snowflake's regexp_like matches the whole string (implicitly anchored): count matches. #}
{% macro snowflake__regex_matches(value, pattern) -%}
    (regexp_instr({{ value }}, {{ pattern }}) > 0)
{%- endmacro %}


{# median(expression): the 50th percentile of a numeric expression (aggregate). #}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'flywheel')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__median(expression) -%}
    median({{ expression }})
{%- endmacro %}

{% macro bigquery__median(expression) -%}
    approx_quantiles({{ expression }}, 2)[offset(1)]
{%- endmacro %}

{% macro spark__median(expression) -%}
    percentile({{ expression }}, 0.5)
{%- endmacro %}


{#
    iso_week_start(expression): the Monday of the ISO week of a date or timestamp.
    dbt.date_trunc('week', …) starts weeks on Monday on DuckDB, Postgres, Snowflake (default
    WEEK_START) and Spark, but on Sunday on BigQuery, whose ISO week part is `isoweek`.
#}
{% macro iso_week_start(expression) -%}
    {{ return(adapter.dispatch('iso_week_start', 'flywheel')(expression)) }}
{%- endmacro %}

{% macro default__iso_week_start(expression) -%}
    {{ dbt.date_trunc('week', expression) }}
{%- endmacro %}

{% macro bigquery__iso_week_start(expression) -%}
    date_trunc(cast({{ expression }} as date), isoweek)
{%- endmacro %}


{#
    type_double(): an 8-byte floating point type. dbt.type_float() renders `float`, which is
    8 bytes on Postgres, Snowflake and BigQuery (float64) but 4 bytes on DuckDB and Spark:
    money and rates would keep only ~7 significant digits there.
#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'flywheel')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    {{ return(dbt.type_float()) }}
{%- endmacro %}

{% macro duckdb__type_double() -%}
    {{ return('double') }}
{%- endmacro %}

{% macro spark__type_double() -%}
    {{ return('double') }}
{%- endmacro %}


{#
    portable_type(name): the adapter's type for a generic type name as written in the
    sources ymls (`data_type: varchar`, `double`, …), for the typed empty stand-ins of
    source_or_empty. Unknown names are passed through unchanged.
#}
{% macro portable_type(name) -%}
    {%- set generic = (name or '') | lower | trim -%}
    {%- if generic in ('varchar', 'string', 'text') -%}
        {{ return(dbt.type_string()) }}
    {%- elif generic in ('double', 'float', 'float8', 'double precision', 'float64') -%}
        {{ return(type_double()) }}
    {%- elif generic in ('bigint', 'int64', 'long') -%}
        {{ return(dbt.type_bigint()) }}
    {%- elif generic in ('integer', 'int', 'int32') -%}
        {{ return(dbt.type_int()) }}
    {%- elif generic in ('boolean', 'bool') -%}
        {{ return(dbt.type_boolean()) }}
    {%- elif generic == 'timestamp' -%}
        {{ return(dbt.type_timestamp()) }}
    {%- else -%}
        {{ return(name) }}
    {%- endif -%}
{%- endmacro %}


{# safe_divide(numerator, denominator): a float, null when the denominator is 0 or null. #}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as {{ type_double() }}) / nullif({{ denominator }}, 0)
{%- endmacro %}


{# normalise_email(column): lower-cased, trimmed, empty string as null. #}
{% macro normalise_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}


{# url_to_path(column): 'https://shop.example/help/returns?x=1' -> '/help/returns'. #}
{% macro url_to_path(column) -%}
    coalesce(
        nullif(
            regexp_replace(
                regexp_replace({{ column }}, '[?#].*$', ''),
                '^[a-zA-Z]+://[^/]+',
                ''
            ),
            ''
        ),
        '/'
    )
{%- endmacro %}


{# ordered_string_agg(expression, delimiter, order_by): the group's `expression` values
   joined with `delimiter` (a SQL string literal) in `order_by` order (aggregate). dbt's
   listagg is the portable spelling; on DuckDB an aggregate with ORDER BY keeps every
   group's rows in memory until the end (it does not spill), which ran out of dbt's
   memory_limit on 29 M messages at demo scale 1000. The unordered list() aggregate does
   spill, so DuckDB collects (key, value) pairs and sorts each group's list itself. #}
{% macro ordered_string_agg(expression, delimiter, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'flywheel')(expression, delimiter, order_by)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(expression, delimiter, order_by) -%}
    {{ dbt.listagg(expression, delimiter, 'order by ' ~ order_by) }}
{%- endmacro %}

{% macro duckdb__ordered_string_agg(expression, delimiter, order_by) -%}
    array_to_string(
        list_transform(
            list_sort(
                list(struct_pack(sort_key := {{ order_by }}, item := {{ expression }})),
                'ASC', 'NULLS LAST'
            ),
            lambda pair: pair.item
        ),
        {{ delimiter }}
    )
{%- endmacro %}


{# first_by(expression, order_by): `expression` of the group's row with the lowest
   `order_by` (aggregate). An aggregate rather than row_number() = 1 over a window: it
   needs one value per group, not a sort of every row, and spills on DuckDB. #}
{% macro first_by(expression, order_by) -%}
    {{ return(adapter.dispatch('first_by', 'flywheel')(expression, order_by)) }}
{%- endmacro %}

{% macro default__first_by(expression, order_by) -%}
    min_by({{ expression }}, {{ order_by }})
{%- endmacro %}

{% macro duckdb__first_by(expression, order_by) -%}
    arg_min({{ expression }}, {{ order_by }})
{%- endmacro %}

{% macro postgres__first_by(expression, order_by) -%}
    (array_agg({{ expression }} order by {{ order_by }}))[1]
{%- endmacro %}

{% macro bigquery__first_by(expression, order_by) -%}
    array_agg({{ expression }} order by {{ order_by }} limit 1)[offset(0)]
{%- endmacro %}
