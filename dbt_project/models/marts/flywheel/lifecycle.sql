{#
    One row per person of the flywheel (keyed by the surviving contact_id), with the time
    they entered each stage (rules in intermediate/int_lifecycle__events.yml) and the
    furthest stage reached as current_stage.
#}
with

lifecycle_events as (

    select * from {{ ref('int_lifecycle__events') }}

),

pivoted as (

    select
        person_id,
        min(case when stage = 'stranger' then entered_at end) as first_seen_at,
        min(case when stage = 'prospect' then entered_at end)
            as became_prospect_at,
        min(case when stage = 'customer' then entered_at end)
            as became_customer_at,
        min(case when stage = 'promoter' then entered_at end)
            as became_promoter_at,
        max(stage_order) as stage_order

    from lifecycle_events
    group by person_id

),

final as (

    select
        person_id as contact_id,
        first_seen_at,
        became_prospect_at,
        became_customer_at,
        became_promoter_at,
        case stage_order
            when 4 then 'promoter'
            when 3 then 'customer'
            when 2 then 'prospect'
            else 'stranger'
        end as current_stage,
        {{ dbt.datediff('became_prospect_at', 'became_customer_at', 'day') }}
            as days_prospect_to_customer,
        {{ dbt.datediff('became_customer_at', 'became_promoter_at', 'day') }}
            as days_customer_to_promoter

    from pivoted

)

select * from final
