{#
    The periods of flywheel.momentum, one row per ISO week and per calendar month
    (period_type × period_start) of the stages_daily spine, with the last day of data in
    the period and the wheel's stage volumes: people entering each stage in the period and
    the cumulative totals at the period end.
#}

{#- the wheel's stages, in order: a volume column <stage>s and a total <stage>s_total each,
    listed in stage_columns volumes first, as the contract orders them -#}
{%- set stages = ['stranger', 'prospect', 'customer', 'promoter'] %}
{%- set stage_columns = [] %}
{%- for suffix in ['s', 's_total'] %}{% for stage in stages %}
    {%- do stage_columns.append(stage ~ suffix) %}
{%- endfor %}{% endfor %}
with

stages_daily as (

    select * from {{ ref('stages_daily') }}

),

-- every day of the spine in its week and in its month
day_periods as (

    select distinct
        'week' as period_type,
        cast({{ iso_week_start('date') }} as date) as period_start,
        date

    from stages_daily

    union all

    select distinct
        'month' as period_type,
        cast({{ dbt.date_trunc('month', 'date') }} as date) as period_start,
        date

    from stages_daily

),

periods as (

    select
        period_type,
        period_start,
        max(date) as period_end

    from day_periods
    group by period_type, period_start

),

-- people entering each stage in the period, and each stage's total on the period's last day
stage_counts as (

    select
        periods.period_type,
        periods.period_start,
    {% for stage in stages %}
        sum(case when stages_daily.stage = '{{ stage }}' then stages_daily.entered else 0 end)
            as {{ stage }}s,
        max(case
            when stages_daily.stage = '{{ stage }}' and stages_daily.date = periods.period_end
                then stages_daily.total
            end) as {{ stage }}s_total{{ "," if not loop.last }}
    {% endfor %}

    from periods
    inner join day_periods
        using (period_type, period_start)
    inner join stages_daily
        on day_periods.date = stages_daily.date
    group by periods.period_type, periods.period_start

),

final as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
    {% for column in stage_columns %}
        cast(coalesce(stage_counts.{{ column }}, 0) as {{ dbt.type_bigint() }})
            as {{ column }}{{ "," if not loop.last }}
    {% endfor %}

    from periods
    left join stage_counts
        using (period_type, period_start)

)

select * from final
