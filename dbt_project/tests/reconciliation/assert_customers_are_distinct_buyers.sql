-- delight.customers has exactly one row per distinct buyer (person with an order, merged
-- through the identity spine; a buyer unknown to the CRM is their own person).
-- A check on delight.customers in Dagster (a singular test over several models needs a home).
{{ config(meta={'dagster': {'ref': {'name': 'customers'}}}) }}

with

customers as (

    select count(*) as customers
    from {{ ref('customers') }}

),

buyers as (

    select count(distinct coalesce(persons.person_id, orders.contact_id)) as buyers

    from {{ ref('stg_crm__orders') }} as orders
    left join {{ ref('int_identity__persons') }} as persons
        on
            persons.identifier_type = 'contact_id'
            and orders.contact_id = persons.identifier_value
    where orders.contact_id is not null

)

select
    customers.customers,
    buyers.buyers

from customers
cross join buyers
where customers.customers != buyers.buyers
