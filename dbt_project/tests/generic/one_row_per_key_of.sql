{#
    No fan-out, no loss: the model has exactly one row per distinct key of the model that
    drives it (compare_model, its key columns compare_keys, optionally filtered by
    compare_where). Together with unique + not_null on the model's own key this proves a
    1:1 correspondence: a join that duplicates rows, an inner join that drops some, or a
    union that adds strays changes the row count.

    A compare_model that does not exist yet (an `ml` source before its insight asset has
    run) counts as empty, as source_or_empty reads it.

    Fails with one row: the model's row count and the driving model's key count.
#}
{% test one_row_per_key_of(model, compare_model, compare_keys, compare_where=none) %}

with

model_rows as (

    select count(*) as row_count
    from {{ model }}

),

{% if relation_exists(compare_model) %}

    driving_keys as (

        select count(*) as key_count
        from (
            select distinct {{ compare_keys | join(', ') }}
            from {{ compare_model }}
            {%- if compare_where %}
                where {{ compare_where }}
            {%- endif %}
        ) as distinct_keys

    )

{% else %}

    driving_keys as (

        select 0 as key_count

    )

{% endif %}

select
    model_rows.row_count,
    driving_keys.key_count

from model_rows
cross join driving_keys
where model_rows.row_count != driving_keys.key_count

{% endtest %}
