{#
    Date × flywheel stage. entered = people entering the stage that day; total = people
    who have entered it up to and including that day; conversion_rate_to_next = total of
    the next stage / total of this stage on that day (null for promoter).

    Strangers are anonymous visitors: when GA4 site totals exist, strangers entered = GA4
    new users of the day (stg_ga4__site_daily, never summed from user rows); without GA4,
    the first-seen dates of known persons stand in.
#}
with

lifecycle_events as (

    select * from {{ ref('int_lifecycle__events') }}

),

site_daily as (

    select * from {{ ref('stg_ga4__site_daily') }}

),

stages as (

    select
        'stranger' as stage,
        1 as stage_order
    union all
    select
        'prospect' as stage,
        2 as stage_order
    union all
    select
        'customer' as stage,
        3 as stage_order
    union all
    select
        'promoter' as stage,
        4 as stage_order

),

bounds as (

    select
        min(event_date) as first_date,
        max(event_date) as last_date

    from (
        select cast(entered_at as date) as event_date from lifecycle_events
        union all
        select report_date as event_date from site_daily
    ) as all_dates

),

numbers as (

    {{ dbt.generate_series(var('flywheel_max_history_days', 4096)) }}

),

dates as (

    select
        cast(
            {{ dbt.dateadd('day', 'numbers.generated_number - 1', 'bounds.first_date') }}
            as date
        ) as date

    from numbers
    cross join bounds
    where
        cast(
            {{ dbt.dateadd('day', 'numbers.generated_number - 1', 'bounds.first_date') }}
            as date
        ) <= bounds.last_date

),

has_ga4 as (

    select count(*) > 0 as has_site_totals from site_daily

),

person_entries as (

    select
        cast(entered_at as date) as date,
        stage,
        count(*) as entered

    from lifecycle_events
    group by cast(entered_at as date), stage

),

stranger_entries as (

    select
        report_date as date,
        'stranger' as stage,
        cast(sum(new_users) as {{ dbt.type_bigint() }}) as entered

    from site_daily
    group by report_date

),

entries as (

    select
        person_entries.date,
        person_entries.stage,
        person_entries.entered

    from person_entries
    cross join has_ga4
    where
        person_entries.stage != 'stranger'
        or not has_ga4.has_site_totals

    union all

    select
        date,
        stage,
        entered

    from stranger_entries

),

daily as (

    select
        dates.date,
        stages.stage,
        stages.stage_order,
        coalesce(entries.entered, 0) as entered,
        cast(
            sum(coalesce(entries.entered, 0)) over (
                partition by stages.stage
                order by dates.date
                rows between unbounded preceding and current row
            ) as {{ dbt.type_bigint() }}
        ) as total

    from dates
    cross join stages
    left join entries
        on
            dates.date = entries.date
            and stages.stage = entries.stage

),

final as (

    select
        daily.date,
        daily.stage,
        daily.stage_order,
        daily.entered,
        daily.total,
        {{ safe_divide('next_stage.total', 'daily.total') }}
            as conversion_rate_to_next

    from daily
    left join daily as next_stage
        on
            daily.date = next_stage.date
            and daily.stage_order + 1 = next_stage.stage_order

)

select * from final
