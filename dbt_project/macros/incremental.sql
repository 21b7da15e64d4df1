{#
    incremental_window(date_column, target_date_column='date')

    The rows an incremental daily fact reprocesses, as a boolean condition on the input's
    `date_column`: every date from max(target_date_column) of the existing table minus
    `flywheel_incremental_lookback_days` (default 3, the trailing days GA4 and Search
    Console restate) onwards, plus every date the table does not hold yet (older history
    backfilled later, a hole, or everything when the table is empty).

    Pair it with incremental_strategy='delete+insert' and unique_key=<the date column>
    (macro incremental_daily_fact below sets them): every date the window selects is
    deleted from the table and inserted again whole, so
    rows that changed, appeared or vanished inside a reprocessed date come out exactly as a
    full refresh would produce them. Dates older than the window are assumed final; after
    restating them at the source (or changing the seed, or a model's logic) run
    `dbt build --full-refresh --select <model>`.

    The bounds are read from the table when the model runs and rendered as constants, so
    the database can push the date filter down into the staging views (a scalar subquery
    would make it scan and deduplicate the whole raw history). A table with holes between
    its first and last date falls back to a `not in` subquery, still correct.

    Only call it inside `{% if is_incremental() %}` (it reads `this`).
#}
{% macro incremental_window(date_column, target_date_column='date') -%}
    {%- set lookback_days = var('flywheel_incremental_lookback_days', 3) | int -%}
    {%- if not execute -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set bounds_sql -%}
        select
            cast(min({{ target_date_column }}) as date) as first_date,
            cast(
                {{ dbt.dateadd('day', -lookback_days, 'max(' ~ target_date_column ~ ')') }}
                as date
            ) as window_start,
            count(distinct {{ target_date_column }}) as loaded_days,
            {{ dbt.datediff(
                'min(' ~ target_date_column ~ ')',
                'max(' ~ target_date_column ~ ')',
                'day',
            ) }} + 1 as spanned_days
        from {{ this }}
    {%- endset -%}
    {%- set bounds = run_query(bounds_sql).rows[0] -%}
    {%- if bounds['first_date'] is none -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    (
        {{ date_column }} >= cast('{{ bounds["window_start"] }}' as date)
        or {{ date_column }} < cast('{{ bounds["first_date"] }}' as date)
        {%- if bounds['loaded_days'] != bounds['spanned_days'] %}
        or {{ date_column }} not in (
            select existing_dates.{{ target_date_column }}
            from {{ this }} as existing_dates
            where existing_dates.{{ target_date_column }} is not null
        )
        {%- endif %}
    )
{%- endmacro %}

{#
    incremental_daily_fact(unique_key='date')

    The config of an incremental daily fact (traffic_daily, search_queries_daily), the
    one incremental_window assumes: every run deletes the dates its input selects and
    inserts them again whole (delete+insert on the date column `unique_key`); a change of
    the columns fails the run rather than leaving a mixed table (refresh it fully).
    Call it first in the model, in place of config().
#}
{% macro incremental_daily_fact(unique_key='date') -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=unique_key,
        on_schema_change='fail',
    ) }}
{%- endmacro %}
