-- The seed channel_groups + macro assign_channel_group reproduce GA4's default channel
-- groups for typical source / medium pairs (CRM contacts and ad spend rely on it).
with

cases as (

    select
        'google' as source,
        'cpc' as medium,
        'Paid Search' as expected
    union all
    select
        'google' as source,
        'organic' as medium,
        'Organic Search' as expected
    union all
    select
        'www.bing.com' as source,
        'referral' as medium,
        'Organic Search' as expected
    union all
    select
        '(direct)' as source,
        '(none)' as medium,
        'Direct' as expected
    union all
    select
        'facebook' as source,
        'paid_social' as medium,
        'Paid Social' as expected
    union all
    select
        'l.facebook.com' as source,
        'referral' as medium,
        'Organic Social' as expected
    union all
    select
        'linkedin.com' as source,
        'social' as medium,
        'Organic Social' as expected
    union all
    select
        'newsletter' as source,
        'email' as medium,
        'Email' as expected
    union all
    select
        'partner.example' as source,
        'referral' as medium,
        'Referral' as expected
    union all
    select
        'youtube.com' as source,
        'cpv' as medium,
        'Paid Video' as expected
    union all
    select
        'dv360' as source,
        'display' as medium,
        'Display' as expected
    union all
    select
        'awin' as source,
        'affiliate' as medium,
        'Affiliates' as expected
    union all
    select
        'someone' as source,
        'something' as medium,
        'Unassigned' as expected
    union all
    select
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as medium,
        'Unassigned' as expected

),

grouped as (

    {{ assign_channel_group('cases', 'source', 'medium') }}

)

select *
from grouped
where channel_group != expected
