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


{# safe_divide(numerator, denominator): a float, null when the denominator is 0 or null. #}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as {{ dbt.type_float() }}) / nullif({{ denominator }}, 0)
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
