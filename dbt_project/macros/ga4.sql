{#
    ga4_report_flags()

    The four columns every GA4 staging model ends with, typed the same way: the report's
    quality flags as the Data API returns them (is_sampled; subject_to_thresholding,
    renamed is_thresholded; has_other_row, the "(other)" bucket) and the load time
    (_loaded_at, renamed loaded_at). Reads the raw column names, so call it in the select
    list of a CTE over the raw (deduplicated) GA4 report.
#}
{% macro ga4_report_flags() -%}
    cast(is_sampled as {{ dbt.type_boolean() }}) as is_sampled,
    cast(subject_to_thresholding as {{ dbt.type_boolean() }}) as is_thresholded,
    cast(has_other_row as {{ dbt.type_boolean() }}) as has_other_row,
    cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
{%- endmacro %}

{#
    not_set_if_blank(column)

    A text dimension as GA4 reports a missing value: trimmed, and '(not set)' where it is
    null or blank. Used wherever a staging model cleans a source, medium, campaign, page or
    event name, so that a CTE re-deriving a dimension (e.g. the source × medium pairs of
    stg_ga4__traffic_acquisition) cannot drift from the one in its `renamed` CTE.
#}
{% macro not_set_if_blank(column) -%}
    coalesce(nullif(trim({{ column }}), ''), '(not set)')
{%- endmacro %}
