{#
    metric_kind(metric): how a model_runs metric compares with its baseline —
    'higher_is_better' or 'lower_is_better' (quality metrics: beats_baseline applies), or
    'descriptive' (data counts, rates of the data, flags: a value above its baseline, e.g. a
    count above its stated minimum, says nothing about model quality). The lists are vars in
    dbt_project.yml; a metric in none of them is null, so a new metric counts for nothing
    until someone says which way is better.
#}
{% macro metric_kind(metric) -%}
    case
        when lower({{ metric }}) in ({{ quoted_list(var('flywheel_descriptive_metrics', [])) }})
            then 'descriptive'
        when
            lower({{ metric }})
            in ({{ quoted_list(var('flywheel_lower_is_better_metrics', [])) }})
            then 'lower_is_better'
        when
            lower({{ metric }})
            in ({{ quoted_list(var('flywheel_higher_is_better_metrics', [])) }})
            then 'higher_is_better'
    end
{%- endmacro %}


{# quoted_list(values): 'a', 'b' for an IN list, lower-cased; null for an empty list (an empty
   IN list is a syntax error, and `x in (null)` is never true). #}
{% macro quoted_list(values) -%}
    {%- if values | length == 0 -%}
        null
    {%- else -%}
        {%- for value in values -%}
            '{{ value | lower | replace("'", "''") }}'{% if not loop.last %}, {% endif %}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
