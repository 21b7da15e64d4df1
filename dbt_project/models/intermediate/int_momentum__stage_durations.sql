{#
    Median days between the wheel's stages per momentum period (period_type ×
    period_start), person-level, over the persons who reached the later stage in the
    period. A stranger becomes a prospect the moment they identify themself, so that step
    has no duration to measure.
#}
with

periods as (

    select * from {{ ref('int_momentum__periods') }}

),

lifecycle as (

    select * from {{ ref('lifecycle') }}

),

-- one row per person and stage reached after prospect: the day they reached it and the
-- days the step to it took
stage_steps as (

    select
        'customer' as stage,
        cast(became_customer_at as date) as entered_date,
        days_prospect_to_customer as step_days

    from lifecycle
    where became_customer_at is not null

    union all

    select
        'promoter' as stage,
        cast(became_promoter_at as date) as entered_date,
        days_customer_to_promoter as step_days

    from lifecycle
    where became_promoter_at is not null

),

step_durations as (

    select
        periods.period_type,
        periods.period_start,
        {{ median("case when stage_steps.stage = 'customer' then stage_steps.step_days end") }}
            as median_days_prospect_to_customer,
        {{ median("case when stage_steps.stage = 'promoter' then stage_steps.step_days end") }}
            as median_days_customer_to_promoter

    from periods
    inner join stage_steps
        on
            periods.period_start <= stage_steps.entered_date
            and periods.period_end >= stage_steps.entered_date
    group by periods.period_type, periods.period_start

),

final as (

    select
        periods.period_type,
        periods.period_start,
        step_durations.median_days_prospect_to_customer,
        step_durations.median_days_customer_to_promoter

    from periods
    left join step_durations
        using (period_type, period_start)

)

select * from final
