{#
    assign_channel_group(relation, source_column, medium_column, pairs_relation=relation)

    Selects every row of `relation` (a CTE) plus a `channel_group` column derived from
    source and medium with the rules of the seed `channel_groups` (GA4's default channel
    group definitions, in GA4's order of precedence). The first rule (lowest priority
    number) whose source_pattern and medium_pattern both match the lower-cased, trimmed
    source and medium wins; rows that match no rule are 'Unassigned', as in GA4.

    Rules are evaluated once per distinct (source, medium) pair, not per row. The pairs come
    from `pairs_relation` (default: `relation`), which must hold every pair of `relation`
    under the same column names (a superset is fine). A cheap one, e.g. the distinct pairs
    of the raw table, keeps `relation` referenced once: a CTE referenced twice is
    materialised whole by some engines (DuckDB), and a date filter on the staging view could
    then no longer reach the raw table (incremental runs would deduplicate all history).
    Users override the mapping by editing seeds/channel_groups.csv (or by pointing
    seed-paths at their own copy) and re-running `dbt seed`.
#}
{% macro assign_channel_group(
    relation, source_column='source', medium_column='medium', pairs_relation=none
) -%}
    select
        {{ relation }}.*,
        coalesce(
            channel_group_matches.channel_group, 'Unassigned'
        ) as channel_group
    from {{ relation }}
    left join (
        select
            source_mediums.match_source,
            source_mediums.match_medium,
            channel_rules.channel_group,
            row_number() over (
                partition by source_mediums.match_source, source_mediums.match_medium
                order by channel_rules.priority
            ) as rule_rank
        from (
            select distinct
                coalesce(lower(trim({{ source_column }})), '') as match_source,
                coalesce(lower(trim({{ medium_column }})), '') as match_medium
            from {{ pairs_relation or relation }}
        ) as source_mediums
        inner join {{ ref('channel_groups') }} as channel_rules
            on
                {{ regex_matches('source_mediums.match_source', 'channel_rules.source_pattern') }}
                and {{ regex_matches('source_mediums.match_medium', 'channel_rules.medium_pattern') }}
    ) as channel_group_matches
        on
            coalesce(lower(trim({{ relation }}.{{ source_column }})), '')
            = channel_group_matches.match_source
            and coalesce(lower(trim({{ relation }}.{{ medium_column }})), '')
            = channel_group_matches.match_medium
            and channel_group_matches.rule_rank = 1
{%- endmacro %}
