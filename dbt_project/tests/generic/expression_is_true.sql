{#
    Every row of the model satisfies `expression` (rows where it is false are returned).
    Usable on a model or on a column (column_name is then ignored: write it in the
    expression).
#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
