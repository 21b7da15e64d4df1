{#
    The periods of flywheel.momentum, one row per ISO week and per calendar month
    (period_type × period_start) of the stages_daily spine, with the last day of data in
    the period and the wheel's stage volumes: people entering each stage in the period and
    the cumulative totals at the period end.
#}

{#- the wheel's stages, in order: a volume column <stage>s and a total <stage>s_total each -#}
{%- set stages = ['stranger', 'prospect', 'customer', 'promoter'] %}
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

stage_volumes as (

    select
        day_periods.period_type,
        day_periods.period_start,
    {% for stage in stages %}
        sum(case when stages_daily.stage = '{{ stage }}' then stages_daily.entered else 0 end)
            as {{ stage }}s{{ "," if not loop.last }}
    {% endfor %}

    from day_periods
    inner join stages_daily
        on day_periods.date = stages_daily.date
    group by day_periods.period_type, day_periods.period_start

),

stage_totals as (

    select
        periods.period_type,
        periods.period_start,
    {% for stage in stages %}
        max(case when stages_daily.stage = '{{ stage }}' then stages_daily.total end)
            as {{ stage }}s_total{{ "," if not loop.last }}
    {% endfor %}

    from periods
    inner join stages_daily
        on periods.period_end = stages_daily.date
    group by periods.period_type, periods.period_start

),

final as (

    select
        periods.period_type,
        periods.period_start,
        periods.period_end,
        cast(coalesce(stage_volumes.strangers, 0) as {{ dbt.type_bigint() }}) as strangers,
        cast(coalesce(stage_volumes.prospects, 0) as {{ dbt.type_bigint() }}) as prospects,
        cast(coalesce(stage_volumes.customers, 0) as {{ dbt.type_bigint() }}) as customers,
        cast(coalesce(stage_volumes.promoters, 0) as {{ dbt.type_bigint() }}) as promoters,
        cast(coalesce(stage_totals.strangers_total, 0) as {{ dbt.type_bigint() }})
            as strangers_total,
        cast(coalesce(stage_totals.prospects_total, 0) as {{ dbt.type_bigint() }})
            as prospects_total,
        cast(coalesce(stage_totals.customers_total, 0) as {{ dbt.type_bigint() }})
            as customers_total,
        cast(coalesce(stage_totals.promoters_total, 0) as {{ dbt.type_bigint() }})
            as promoters_total

    from periods
    left join stage_volumes
        on
            periods.period_type = stage_volumes.period_type
            and periods.period_start = stage_volumes.period_start
    left join stage_totals
        on
            periods.period_type = stage_totals.period_type
            and periods.period_start = stage_totals.period_start

)

select * from final
