{#
    No fan-out, no loss in an aggregation: a measure's total over the model equals its
    total over the model it was built from. A join that duplicates input rows before a
    group by inflates the total while the model's key stays unique, which unique tests
    cannot see; this test does.

    expression          aggregate over the model (default: sum(<column>)); filter the
                        model side with the test config `where`
    compare_model       the model (or source) the measure comes from
    compare_expression  aggregate over compare_model (default: the same as expression)
    compare_where       filter of compare_model
    compare_recent_days, compare_date_column
                        only compare_model rows of the last N days up to its own latest
                        date, by the date of compare_date_column (for rolling-window marts
                        such as landing_pages)
    precision           relative tolerance (float sums in another order differ in the
                        last bits)

    Only for measures that add up at the row level of both sides (counts, revenue, GA4
    sessions): it proves that rows were neither doubled nor lost, not that a total is
    meaningful (never add GA4 users or Search Console query rows up to site totals).
    A compare_model that does not exist yet counts as empty.

    Fails with one row: both totals.
#}
{% test total_matches(
    model,
    column_name=none,
    compare_model=none,
    expression=none,
    compare_expression=none,
    compare_where=none,
    compare_recent_days=none,
    compare_date_column=none,
    precision=0.000001
) %}

with

model_total as (

    select
        cast(
            {{ expression or ('sum(' ~ column_name ~ ')') }} as {{ type_double() }}
        ) as total
    from {{ model }}

),

{% if relation_exists(compare_model) %}

    compare_total as (

        select
            cast(
                {{ compare_expression or expression or ('sum(' ~ column_name ~ ')') }}
                as {{ type_double() }}
            ) as total
        from {{ compare_model }}
        where
            1 = 1
            {%- if compare_where %}
                and ({{ compare_where }})
            {%- endif %}
            {%- if compare_recent_days %}
                and cast({{ compare_date_column }} as date) > cast({{ dbt.dateadd(
                    'day',
                    -(compare_recent_days | int),
                    '(select max(' ~ compare_date_column ~ ') from ' ~ compare_model ~ ')',
                ) }} as date)
            {%- endif %}

    )

{% else %}

    compare_total as (

        select cast(null as {{ type_double() }}) as total

    )

{% endif %}

select
    model_total.total as model_total,
    compare_total.total as compare_total

from model_total
cross join compare_total
where
    abs(coalesce(model_total.total, 0) - coalesce(compare_total.total, 0))
    > {{ precision }} * case
        when abs(coalesce(compare_total.total, 0)) > 1
            then abs(coalesce(compare_total.total, 0))
        else 1
    end

{% endtest %}
