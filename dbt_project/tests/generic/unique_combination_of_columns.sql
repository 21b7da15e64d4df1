{#
    The declared grain of a model: no two rows share the same combination of
    combination_of_columns (a small stand-in for dbt_utils' test of the same name; the
    project installs no hub packages).
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as duplicate_rows

from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
