{#
    Cohort month (month of a customer's first order) × months since the first order.
    A customer is active in a month when they order in it; retention_rate is active
    customers over the cohort size. Every month with orders from the cohort month on is
    listed, so a month where nobody of the cohort ordered shows 0 rather than vanishing.
#}
with

customers as (

    select * from {{ ref('customers') }}

),

person_orders as (

    select * from {{ ref('int_crm__person_orders') }}

),

cohorts as (

    select
        contact_id,
        cast({{ dbt.date_trunc('month', 'first_order_at') }} as date) as cohort_month

    from customers

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as customers

    from cohorts
    group by cohort_month

),

monthly_orders as (

    select
        person_id as contact_id,
        cast({{ dbt.date_trunc('month', 'ordered_at') }} as date) as order_month,
        sum(revenue) as revenue

    from person_orders
    where person_id is not null
    group by
        person_id,
        cast({{ dbt.date_trunc('month', 'ordered_at') }} as date)

),

activity as (

    select
        cohorts.cohort_month,
        {{ dbt.datediff('cohorts.cohort_month', 'monthly_orders.order_month', 'month') }}
            as months_since_first_order,
        count(distinct monthly_orders.contact_id) as active_customers,
        sum(monthly_orders.revenue) as revenue

    from monthly_orders
    inner join cohorts
        on monthly_orders.contact_id = cohorts.contact_id
    group by
        cohorts.cohort_month,
        {{ dbt.datediff('cohorts.cohort_month', 'monthly_orders.order_month', 'month') }}

),

order_months as (

    select distinct order_month from monthly_orders

),

grid as (

    select
        cohort_sizes.cohort_month,
        cohort_sizes.customers,
        {{ dbt.datediff('cohort_sizes.cohort_month', 'order_months.order_month', 'month') }}
            as months_since_first_order

    from cohort_sizes
    inner join order_months
        on cohort_sizes.cohort_month <= order_months.order_month

),

final as (

    select
        grid.cohort_month,
        grid.months_since_first_order,
        grid.customers,
        coalesce(activity.active_customers, 0) as active_customers,
        {{ safe_divide('coalesce(activity.active_customers, 0)', 'grid.customers') }}
            as retention_rate,
        coalesce(activity.revenue, 0) as revenue

    from grid
    left join activity
        using (cohort_month, months_since_first_order)

)

select * from final
