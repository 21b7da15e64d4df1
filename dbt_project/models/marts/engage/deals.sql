{#
    One row per CRM deal. win_probability comes from ml.deal_scores (latest data_through)
    and is set for open deals only: a closed deal's outcome is known (is_won), and a 1/0
    there would mix outcomes into averages of predicted pipeline. Null until the
    deal-scoring asset has run, and for open deals it did not score.
#}
with

deals as (

    select * from {{ ref('stg_crm__deals') }}

),

stage_history as (

    select * from {{ ref('stg_crm__deal_stage_history') }}

),

deal_scores as (

    select * from {{ ref('stg_ml__deal_scores') }}

),

person_deals as (

    {{ assign_person('deals') }}

),

latest_scores as (

    {{ latest_model_output('deal_scores', ['deal_id']) }}

),

data_through as (

    select max(coalesce(closed_at, created_at)) as data_through

    from deals

),

stage_changes as (

    select
        deal_id,
        count(*) as stage_changes,
        max(entered_at) as stage_entered_at

    from stage_history
    group by deal_id

),

final as (

    select
        person_deals.deal_id,
        person_deals.person_id as contact_id,
        person_deals.created_at,
        person_deals.stage,
        person_deals.amount,
        person_deals.is_closed,
        person_deals.is_won,
        person_deals.closed_at,
        {{ dbt.datediff(
            'person_deals.created_at',
            'coalesce(person_deals.closed_at, data_through.data_through)',
            'day',
        ) }} as days_open,
        coalesce(stage_changes.stage_changes, 0) as stage_changes,
        stage_changes.stage_entered_at,
        case
            when not person_deals.is_closed then latest_scores.win_probability
        end as win_probability,
        case
            when not person_deals.is_closed then latest_scores.data_through
        end as win_probability_data_through

    from person_deals
    cross join data_through
    left join stage_changes
        on person_deals.deal_id = stage_changes.deal_id
    left join latest_scores
        on person_deals.deal_id = latest_scores.deal_id

)

select * from final
