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

customer_durations as (

    select
        periods.period_type,
        periods.period_start,
        {{ median('lifecycle.days_prospect_to_customer') }}
            as median_days_prospect_to_customer

    from periods
    inner join lifecycle
        on
            cast(lifecycle.became_customer_at as date) >= periods.period_start
            and cast(lifecycle.became_customer_at as date) <= periods.period_end
    group by periods.period_type, periods.period_start

),

promoter_durations as (

    select
        periods.period_type,
        periods.period_start,
        {{ median('lifecycle.days_customer_to_promoter') }}
            as median_days_customer_to_promoter

    from periods
    inner join lifecycle
        on
            cast(lifecycle.became_promoter_at as date) >= periods.period_start
            and cast(lifecycle.became_promoter_at as date) <= periods.period_end
    group by periods.period_type, periods.period_start

),

final as (

    select
        periods.period_type,
        periods.period_start,
        customer_durations.median_days_prospect_to_customer,
        promoter_durations.median_days_customer_to_promoter

    from periods
    left join customer_durations
        on
            periods.period_type = customer_durations.period_type
            and periods.period_start = customer_durations.period_start
    left join promoter_durations
        on
            periods.period_type = promoter_durations.period_type
            and periods.period_start = promoter_durations.period_start

)

select * from final
