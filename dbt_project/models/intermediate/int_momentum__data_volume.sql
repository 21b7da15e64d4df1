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

-- the date of every row of data, one source after the other
dated_rows as (

    select report_date as date from traffic
    union all
    select cast(started_at as date) as date from conversations
    union all
    select cast(ordered_at as date) as date from orders
    union all
    select cast(created_at as date) as date from contacts
    union all
    select report_date as date from search_analytics
    union all
    select cast(created_at as date) as date from deals
    union all
    select cast(responded_at as date) as date from nps_responses
    union all
    select cast(referred_at as date) as date from referrals

),

daily_rows as (

    select
        date,
        count(*) as data_rows

    from dated_rows
    group by date

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
