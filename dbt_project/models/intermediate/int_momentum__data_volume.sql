{#
    Rows of data per momentum period (period_type × period_start): rows dated in the
    period and rows so far (up to period_end), over GA4 traffic rows, Search Console
    rows, conversations, CRM contacts, deals, orders, NPS responses and referrals.
#}
with

periods as (

    select * from {{ ref('int_momentum__periods') }}

),

traffic as (

    select * from {{ ref('stg_ga4__traffic_acquisition') }}

),

conversations as (

    select * from {{ ref('stg_conversations__conversations') }}

),

orders as (

    select * from {{ ref('stg_crm__orders') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

search_analytics as (

    select * from {{ ref('stg_gsc__search_analytics') }}

),

deals as (

    select * from {{ ref('stg_crm__deals') }}

),

nps_responses as (

    select * from {{ ref('stg_crm__nps_responses') }}

),

referrals as (

    select * from {{ ref('stg_crm__referrals') }}

),

daily_rows as (

    select
        report_date as date,
        count(*) as data_rows
    from traffic
    group by report_date

    union all

    select
        cast(started_at as date) as date,
        count(*) as data_rows
    from conversations
    group by cast(started_at as date)

    union all

    select
        cast(ordered_at as date) as date,
        count(*) as data_rows
    from orders
    group by cast(ordered_at as date)

    union all

    select
        cast(created_at as date) as date,
        count(*) as data_rows
    from contacts
    group by cast(created_at as date)

    union all

    select
        report_date as date,
        count(*) as data_rows
    from search_analytics
    group by report_date

    union all

    select
        cast(created_at as date) as date,
        count(*) as data_rows
    from deals
    group by cast(created_at as date)

    union all

    select
        cast(responded_at as date) as date,
        count(*) as data_rows
    from nps_responses
    group by cast(responded_at as date)

    union all

    select
        cast(referred_at as date) as date,
        count(*) as data_rows
    from referrals
    group by cast(referred_at as date)

),

final as (

    select
        periods.period_type,
        periods.period_start,
        cast(
            sum(
                case
                    when daily_rows.date >= periods.period_start
                        then daily_rows.data_rows
                    else 0
                end
            ) as {{ dbt.type_bigint() }}
        ) as data_rows,
        cast(sum(daily_rows.data_rows) as {{ dbt.type_bigint() }}) as data_rows_total

    from periods
    inner join daily_rows
        on periods.period_end >= daily_rows.date
    group by periods.period_type, periods.period_start

)

select * from final
