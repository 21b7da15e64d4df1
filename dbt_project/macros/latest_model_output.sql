{#
    latest_model_output(relation, key)

    The rows of an ml output table (`relation`, a CTE name or a relation: lead scores, deal
    scores, customer value, topic assignments) from the newest model run per `key` (a list
    of column names): the latest data_through wins. Every ml table keeps one version per
    data_through, so a mart joining one without this rule fans out (one row per version).
    Adds a helper column `_output_rank` that the caller does not select; join the result
    on `key` alone.

    Written with row_number() in a subquery instead of QUALIFY so that it runs on every
    engine dbt supports.
#}
{% macro latest_model_output(relation, key) -%}
    select ranked.*
    from (
        select
            {{ relation }}.*,
            row_number() over (
                partition by {{ key | join(', ') }}
                order by data_through desc
            ) as _output_rank
        from {{ relation }}
    ) as ranked
    where ranked._output_rank = 1
{%- endmacro %}
