{#
    Recommendations per momentum period (period_type × period_start): issued (created),
    acted on (accepted, or done without an acceptance) and measured in the period, and
    issued / measured so far. A recommendation is measured at its first outcome in
    recommendation_outcomes or its first 'measured' decision, whichever comes first.
#}
with

periods as (

    select * from {{ ref('int_momentum__periods') }}

),

recommendations as (

    select * from {{ ref('recommendations') }}

),

recommendation_outcomes as (

    select * from {{ ref('recommendation_outcomes') }}

),

recommendation_measurements as (

    select
        measurements.recommendation_id,
        min(measurements.measured_at) as measured_at

    from (
        select
            recommendation_id,
            measured_at
        from recommendations
        where measured_at is not null

        union all

        select
            recommendation_id,
            measured_at
        from recommendation_outcomes
        where measured_at is not null
    ) as measurements
    group by measurements.recommendation_id

),

recommendation_dates as (

    select
        cast(created_at as date) as created_date,
        cast(coalesce(accepted_at, done_at) as date) as acted_date

    from recommendations

),

issued_and_acted as (

    select
        periods.period_type,
        periods.period_start,
        sum(
            case
                when
                    recommendation_dates.created_date >= periods.period_start
                    and recommendation_dates.created_date <= periods.period_end
                    then 1
                else 0
            end
        ) as recommendations_issued,
        sum(
            case
                when
                    recommendation_dates.acted_date >= periods.period_start
                    and recommendation_dates.acted_date <= periods.period_end
                    then 1
                else 0
            end
        ) as recommendations_acted,
        sum(
            case
                when recommendation_dates.created_date <= periods.period_end then 1 else 0
            end
        ) as recommendations_issued_total

    from periods
    cross join recommendation_dates
    group by periods.period_type, periods.period_start

),

measured as (

    select
        periods.period_type,
        periods.period_start,
        sum(
            case
                when
                    cast(recommendation_measurements.measured_at as date)
                    >= periods.period_start
                    then 1
                else 0
            end
        ) as recommendations_measured,
        count(*) as recommendations_measured_total

    from periods
    inner join recommendation_measurements
        on cast(recommendation_measurements.measured_at as date) <= periods.period_end
    group by periods.period_type, periods.period_start

),

final as (

    select
        periods.period_type,
        periods.period_start,
        cast(coalesce(issued_and_acted.recommendations_issued, 0) as {{ dbt.type_bigint() }})
            as recommendations_issued,
        cast(coalesce(issued_and_acted.recommendations_acted, 0) as {{ dbt.type_bigint() }})
            as recommendations_acted,
        cast(
            coalesce(issued_and_acted.recommendations_issued_total, 0)
            as {{ dbt.type_bigint() }}
        ) as recommendations_issued_total,
        cast(coalesce(measured.recommendations_measured, 0) as {{ dbt.type_bigint() }})
            as recommendations_measured,
        cast(
            coalesce(measured.recommendations_measured_total, 0) as {{ dbt.type_bigint() }}
        ) as recommendations_measured_total

    from periods
    left join issued_and_acted
        using (period_type, period_start)
    left join measured
        using (period_type, period_start)

)

select * from final
