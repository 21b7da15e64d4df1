{#
    dedupe_latest(relation, partition_by, lineage='file')

    Keeps one row per key (partition_by, a list of column names) out of `relation` (a CTE
    name or a relation) and adds nothing else than a helper column `_dedupe_rank` that the
    caller does not select.

    Rule, identical in every staging model: the row loaded last wins, i.e. the latest
    `_loaded_at`; ties are broken by the later lineage position: `_source_file` desc, then
    `_line` desc for file drops (lineage='file'), `_request_id` desc, then `_page` desc
    for API extracts (lineage='api').

    Written with row_number() in a subquery instead of QUALIFY so that it runs on every
    engine dbt supports.
#}
{% macro dedupe_latest(relation, partition_by, lineage='file') -%}
    {%- if lineage == 'api' -%}
        {%- set tie_breakers = ['_request_id', '_page'] -%}
    {%- else -%}
        {%- set tie_breakers = ['_source_file', '_line'] -%}
    {%- endif -%}
    select ranked.*
    from (
        select
            {{ relation }}.*,
            row_number() over (
                partition by {{ partition_by | join(', ') }}
                order by
                    _loaded_at desc,
                    {{ tie_breakers[0] }} desc,
                    {{ tie_breakers[1] }} desc
            ) as _dedupe_rank
        from {{ relation }}
    ) as ranked
    where ranked._dedupe_rank = 1
{%- endmacro %}
