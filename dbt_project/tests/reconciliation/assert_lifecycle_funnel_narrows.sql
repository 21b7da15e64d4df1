-- The flywheel funnel narrows: promoters <= customers <= prospects in flywheel.lifecycle,
-- and lifecycle customers are the customers of delight.customers.
-- A check on delight.customers in Dagster (a singular test over several models needs a home).
{{ config(meta={'dagster': {'ref': {'name': 'customers'}}}) }}

with

lifecycle as (

    select
        count(became_prospect_at) as prospects,
        count(became_customer_at) as customers,
        count(became_promoter_at) as promoters

    from {{ ref('lifecycle') }}

),

customers as (

    select count(*) as customers
    from {{ ref('customers') }}

)

select
    lifecycle.prospects,
    lifecycle.customers,
    lifecycle.promoters,
    customers.customers as delight_customers

from lifecycle
cross join customers
where
    lifecycle.promoters > lifecycle.customers
    or lifecycle.customers > lifecycle.prospects
