"""The BI contract of SPEC §5, checked on the dbt project, and proof that the fan-out tests bite.

Fast checks read the parsed manifest (session fixture `dbt_manifest`): every SPEC §5 table
exists in its schema with a description, its declared grain, every "must include" column
declared and described, unique + not_null tests on its key (a combination-unique test and
not_null on every column for compound grains), and a fan-out proof.

Slow checks build the project on a small demo warehouse (raw tables from the simulator
through the real loaders, a few planted duplicates, small `ml` tables) and then
- compare every mart's built columns with its YAML (no undocumented, no stale column);
- break joins on purpose in a scratch copy of the project (a filter forgotten, a window
  off by one, a join on the wrong key) and check that each fan-out test fails, so none of
  them passes vacuously.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest

from flywheel_pipeline.dbt.project import DBT_PROJECT_DIR
from flywheel_pipeline.sources.demo import simulate
from flywheel_pipeline.sources.demo.config import DemoConfig
from flywheel_pipeline.warehouse import connect
from tests.test_dbt_incremental import Extract, dbt_invoke, write_api_sources, write_file_sources

# SPEC §5: relation -> (grain, must include). The grain of flywheel.momentum is "period (ISO
# week and month, column period_type)"; its "must include" items are checked separately.
SPEC_MARTS: dict[str, tuple[list[str], list[str]]] = {
    "attract.traffic_daily": (
        ["date", "channel_group", "source", "medium", "campaign", "landing_page", "device"],
        ["sessions", "engaged_sessions", "new_users", "key_events", "revenue"],
    ),
    "attract.channel_daily": (
        ["date", "channel_group"],
        [
            "sessions",
            "new_users",
            "leads",
            "customers_acquired",
            "revenue",
            "ad_spend",
            "cost_per_lead",
            "roas",
        ],
    ),
    "attract.search_queries_daily": (
        ["date", "query", "page", "country", "device"],
        ["impressions", "clicks", "ctr", "position"],
    ),
    "attract.landing_pages": (
        ["page"],
        [
            "sessions_28d",
            "engagement_rate",
            "key_event_rate",
            "search_impressions_28d",
            "search_clicks_28d",
            "avg_position",
        ],
    ),
    "engage.leads": (
        ["contact_id"],
        [
            "created_at",
            "channel_group",
            "source",
            "medium",
            "campaign",
            "first_landing_page",
            "conversations",
            "lead_score",
            "is_customer",
            "converted_at",
        ],
    ),
    "engage.conversations": (
        ["conversation_id"],
        [
            "started_at",
            "contact_id",
            "channel",
            "message_count",
            "topic_id",
            "topic_label",
            "resolved",
            "handed_off",
            "csat",
        ],
    ),
    "engage.conversation_topics": (
        ["topic_id"],
        [
            "label",
            "top_terms",
            "conversations",
            "share",
            "trend_28d",
            "resolution_rate",
            "avg_csat",
        ],
    ),
    "engage.deals": (
        ["deal_id"],
        [
            "contact_id",
            "created_at",
            "stage",
            "amount",
            "is_closed",
            "is_won",
            "days_open",
            "win_probability",
        ],
    ),
    "delight.customers": (
        ["contact_id"],
        [
            "first_order_at",
            "last_order_at",
            "orders",
            "revenue",
            "predicted_orders_90d",
            "predicted_clv_365d",
            "p_alive",
            "latest_nps",
        ],
    ),
    "delight.retention_cohorts": (
        ["cohort_month", "months_since_first_order"],
        ["customers", "active_customers", "retention_rate", "revenue"],
    ),
    "advocate.promoters": (
        ["contact_id"],
        ["latest_nps", "nps_category", "referrals_made", "referred_customers", "referred_revenue"],
    ),
    "advocate.nps_monthly": (
        ["month"],
        ["responses", "promoters", "passives", "detractors", "nps"],
    ),
    "flywheel.lifecycle": (
        ["contact_id"],
        [
            "first_seen_at",
            "became_prospect_at",
            "became_customer_at",
            "became_promoter_at",
            "current_stage",
        ],
    ),
    "flywheel.stages_daily": (["date", "stage"], ["entered", "total", "conversion_rate_to_next"]),
    "flywheel.momentum": (["period_type", "period_start"], ["phase"]),
    "flywheel.recommendations": (
        ["recommendation_id"],
        [
            "created_at",
            "cycle",
            "type",
            "target_type",
            "target_id",
            "action",
            "rationale",
            "brief",
            "expected_impact",
            "impact_unit",
            "priority",
            "confidence",
            "status",
        ],
    ),
    # the members of the list recommendations (issue #10), beside flywheel.recommendations
    "flywheel.recommendation_targets": (
        ["recommendation_id", "target_id"],
        ["target_type", "position", "reason", "expected_impact", "score", "holdout"],
    ),
    "flywheel.recommendation_outcomes": (
        ["recommendation_id", "metric"],
        [
            "baseline_value",
            "observed_value",
            "control_change",
            "estimated_lift",
            "ci_low",
            "ci_high",
            "n",
            "method",
            "measured_at",
        ],
    ),
    "flywheel.model_runs": (
        ["run_id", "metric"],
        [
            "model",
            "trained_at",
            "train_rows",
            "holdout_rows",
            "value",
            "baseline_value",
            "data_through",
        ],
    ),
}

# SPEC §5 flywheel.momentum "must include", item -> columns that carry it
MOMENTUM_ITEMS: dict[str, list[str]] = {
    "per-stage volumes": ["strangers", "prospects", "customers", "promoters"],
    "per-stage growth": [
        "strangers_growth",
        "prospects_growth",
        "customers_growth",
        "promoters_growth",
    ],
    "stage conversion rates": [
        "stranger_to_prospect_rate",
        "prospect_to_customer_rate",
        "customer_to_promoter_rate",
    ],
    "median days between stages": [
        "median_days_prospect_to_customer",
        "median_days_customer_to_promoter",
    ],
    "rows of data so far": ["data_rows_total"],
    "model quality": ["model_metrics_beating_baseline_share", "model_runs_total"],
    "recommendations issued / acted / measured": [
        "recommendations_issued",
        "recommendations_acted",
        "recommendations_measured",
    ],
    "realised lift": ["realised_lift"],
    "phase": ["phase"],
}

FAN_OUT_TESTS = {"one_row_per_key_of", "total_matches"}


# --- the manifest ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest(dbt_manifest: Path) -> dict:
    return json.loads(Path(dbt_manifest).read_text())


def _models(manifest: dict) -> dict[str, dict]:
    return {
        f"{node['schema']}.{node['alias']}": node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def _marts(manifest: dict) -> dict[str, dict]:
    return {
        relation: node
        for relation, node in _models(manifest).items()
        if node["path"].startswith("marts/")
    }


def _tests_on(manifest: dict, model_id: str) -> list[dict]:
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node.get("attached_node") == model_id
    ]


def _generic(test: dict) -> str | None:
    return (test.get("test_metadata") or {}).get("name")


@pytest.mark.parametrize("relation", sorted(SPEC_MARTS))
def test_spec_table_exists_with_description_and_grain(manifest: dict, relation: str) -> None:
    node = _models(manifest).get(relation)
    assert node is not None, f"{relation} (SPEC §5) is not a dbt model in that schema"
    assert node["path"].startswith("marts/"), node["path"]
    assert node["description"].strip(), f"{relation} has no description"
    grain = SPEC_MARTS[relation][0]
    assert node["config"]["meta"].get("grain") == grain, f"{relation}: meta.grain != {grain}"


@pytest.mark.parametrize("relation", sorted(SPEC_MARTS))
def test_spec_columns_are_declared(manifest: dict, relation: str) -> None:
    columns = _models(manifest)[relation]["columns"]
    grain, must_include = SPEC_MARTS[relation]
    missing = [c for c in [*grain, *must_include] if c not in columns]
    assert not missing, f"{relation}: SPEC §5 columns missing from its YAML: {missing}"


@pytest.mark.parametrize("relation", sorted(SPEC_MARTS))
def test_every_column_is_described(manifest: dict, relation: str) -> None:
    """Beyond SPEC's columns: a BI user reads every column's meaning in `dbt docs`."""
    columns = _models(manifest)[relation]["columns"]
    undescribed = [name for name, column in columns.items() if not column["description"]]
    assert not undescribed, f"{relation}: columns without a description: {undescribed}"


@pytest.mark.parametrize("relation", sorted(SPEC_MARTS))
def test_grain_key_is_unique_and_not_null(manifest: dict, relation: str) -> None:
    node = _models(manifest)[relation]
    grain = SPEC_MARTS[relation][0]
    tests = _tests_on(manifest, node["unique_id"])
    not_null = {t["column_name"] for t in tests if _generic(t) == "not_null"}
    assert set(grain) <= not_null, f"{relation}: no not_null test on {set(grain) - not_null}"
    if len(grain) == 1:
        unique = {t["column_name"] for t in tests if _generic(t) == "unique"}
        assert grain[0] in unique, f"{relation}: no unique test on {grain[0]}"
    else:
        combinations = [
            set(t["test_metadata"]["kwargs"]["combination_of_columns"])
            for t in tests
            if _generic(t) == "unique_combination_of_columns"
        ]
        assert set(grain) in combinations, f"{relation}: no unique test on the grain {grain}"


def test_every_mart_is_in_the_spec(manifest: dict) -> None:
    """The marts are the BI contract: a new mart belongs in SPEC §5 (and in SPEC_MARTS)."""
    assert set(_marts(manifest)) == set(SPEC_MARTS)


def test_every_mart_has_a_fan_out_proof(manifest: dict) -> None:
    """A generic fan-out test (one_row_per_key_of, total_matches) on every mart."""
    unproven = [
        relation
        for relation, node in _marts(manifest).items()
        if not {_generic(t) for t in _tests_on(manifest, node["unique_id"])} & FAN_OUT_TESTS
    ]
    # flywheel.model_runs only unions the models' runs tables: no join that could fan out
    assert sorted(unproven) == ["flywheel.model_runs"], unproven


def test_momentum_has_every_spec_item_and_documents_the_phase_rule(manifest: dict) -> None:
    node = _models(manifest)["flywheel.momentum"]
    missing = {
        item: [c for c in columns if c not in node["columns"]]
        for item, columns in MOMENTUM_ITEMS.items()
    }
    assert not {item: cs for item, cs in missing.items() if cs}, missing
    description = " ".join(node["description"].split())
    for words in (
        "accumulation",
        "acceleration",
        "self_sustaining",
        "flywheel_phase_min_customers",
        "flywheel_phase_min_recommendations_measured",
    ):
        assert words in description, f"momentum's description does not state {words!r}"


def test_staging_models_state_their_dedup_rule_and_key(manifest: dict) -> None:
    for relation, node in _models(manifest).items():
        if not node["name"].startswith("stg_"):
            continue
        assert re.search(r"dedupe_latest", node["description"]), f"{relation}: no dedup rule"
        tests = _tests_on(manifest, node["unique_id"])
        grain = node["config"]["meta"].get("grain", [])
        keyed = any(_generic(t) == "unique" and [t["column_name"]] == grain for t in tests) or any(
            _generic(t) == "unique_combination_of_columns"
            and set(t["test_metadata"]["kwargs"]["combination_of_columns"]) == set(grain)
            for t in tests
        )
        assert grain and keyed, f"{relation}: no unique test on its declared grain {grain}"


# --- a built demo warehouse ------------------------------------------------------------------


def _plant_duplicates_and_ml(database: Path, through: dt.date) -> None:
    """What the simulator rarely shows at this size, planted so that every fan-out test has
    something to catch: buyers with a duplicate CRM contact (same email, other case) and a
    second NPS answer, one referral recorded twice through the duplicate; `ml` outputs with
    a stale older version beside the latest (the marts must pick the latest), some written
    before an optional column existed (outcomes without higher_is_better, runs without
    metric_kind: their staging models read it as null), and several operator decisions per
    recommendation."""
    older = through - dt.timedelta(days=7)
    planted = "'planted.csv' as _source_file, timestamp '2026-01-01' as _loaded_at"
    buyers = (
        "(select contact_id from raw.crm_contacts where email is not null and contact_id in "
        "(select contact_id from raw.crm_orders) order by contact_id limit 5)"
    )
    with connect(database) as conn:
        conn.execute(f"""
            insert into raw.crm_contacts by name
            select 'dup-' || contact_id as contact_id, upper(email) as email,
                created_at + interval 1 day as created_at, source, medium, campaign,
                company, industry, company_size, country, row_number() over () as _line,
                {planted}
            from raw.crm_contacts where contact_id in {buyers}""")
        conn.execute(f"""
            insert into raw.crm_nps_responses by name
            select contact_id, created_at + interval (10 * answer) day as responded_at,
                case when answer = 1 then 10 else 6 end as score, 'planted' as comment,
                row_number() over () as _line, {planted}
            from raw.crm_contacts, (select 1 as answer union all select 2) as answers
            where contact_id in {buyers}""")
        conn.execute(f"""
            insert into raw.crm_referrals by name
            with pair as (
                select min(contact_id) as referrer, max(contact_id) as referred
                from {buyers} as chosen
            )
            select
                case when copies.n = 1 then referrer else 'dup-' || referrer end
                    as referrer_contact_id,
                referred as referred_contact_id,
                timestamp '{older}' + copies.n * interval 1 hour as referred_at,
                copies.n as _line, {planted}
            from pair, (select 1 as n union all select 2) as copies""")
        conn.execute("create schema if not exists ml")
        conn.execute(f"""
            create or replace table ml.conversation_topics as
            select i::integer as topic_id, 'topic ' || i as label,
                'How do I do ' || i || '?' as representative_question, 'term' || i || ',other'
                as top_terms, 0::bigint as conversations, 0::bigint as conversations_28d,
                0::bigint as conversations_prev_28d, null::double as trend_28d,
                (4 - i)::integer as rank_volume, (i + 1)::integer as rank_rising,
                3::bigint as max_topic_id, i = 0 as is_content_gap,
                'planted' as gap_evidence, i > 0 as is_answered, '/help/' || i as best_page,
                0.1 * i as best_page_similarity, date '{through}' as data_through
            from range(4) as t(i)""")
        conn.execute(f"""
            create or replace table ml.conversation_topic_assignments as
            select conversation_id, (hash(conversation_id) % 4)::integer as topic_id,
                date '{through}' as data_through
            from raw.conversations
            union all
            select conversation_id, ((hash(conversation_id) + 1) % 4)::integer,
                date '{older}'
            from raw.conversations where hash(conversation_id) % 3 = 0""")
        conn.execute(f"""
            create or replace table ml.lead_scores as
            select contact_id, (hash(contact_id) % 1000) / 1000.0 as lead_score,
                date '{through}' as data_through
            from raw.crm_contacts
            union all
            select contact_id, 0.5, date '{older}' from raw.crm_contacts""")
        conn.execute(f"""
            create or replace table ml.recommendation_candidates as
            select 'rec-' || i as recommendation_id,
                timestamp '{older}' + i * interval 1 day as created_at, 1 as cycle,
                'follow_up_lead' as type, 'contact' as target_type, 'c' || i as target_id,
                'call them' as action, 'planted' as rationale,
                cast(null as varchar) as brief, 10.0 * i as expected_impact,
                'orders' as impact_unit, i::integer as priority, 0.5 as confidence
            from range(1, 7) as t(i)""")
        conn.execute("""
            create or replace table ml.recommendation_targets as
            select 'rec-' || r as recommendation_id, 'contact' as target_type,
                'm' || i as target_id, i::bigint as position, 'planted' as reason,
                1.0 * i as expected_impact, 0.1 * i as score, i = 1 as holdout
            from range(1, 3) as l(r), range(1, 6) as t(i)""")
        conn.execute(f"""
            create or replace table raw.decisions as
            select *, 'planted' as note, row_number() over () as _line, {planted}
            from (values
                ('rec-1', 'accepted', timestamp '{older}'),
                ('rec-1', 'done', timestamp '{through}'),
                ('rec-2', 'accepted', timestamp '{older}'),
                ('rec-2', 'rejected', timestamp '{through}'),
                ('rec-3', 'done', timestamp '{through}')
            ) as d(recommendation_id, status, decided_at)""")
        conn.execute(f"""
            create or replace table ml.recommendation_outcomes as
            select 'rec-1' as recommendation_id, metric, 1.0 as baseline_value,
                1.2 as observed_value, 0.05 as control_change, 0.15 as estimated_lift,
                0.05 as ci_low, 0.25 as ci_high, 40::bigint as n,
                'difference_in_differences' as method, timestamp '{through}' as measured_at
            from (values ('orders'), ('revenue')) as m(metric)""")
        for table, metrics in (
            ("conversation_topics_runs", ("nmi", "ari")),
            ("lead_scoring_runs", ("auc", "brier")),
        ):
            conn.execute(f"""
                create or replace table ml.{table} as
                select '{table}-' || d as run_id, '{table}' as model,
                    timestamp '{through}' as trained_at, 100::bigint as train_rows,
                    20::bigint as holdout_rows, metric, 0.7 as value, 0.5 as baseline_value,
                    d as data_through, 'model' as served_by,
                    'the model beats its baseline' as serving_reason
                from (values (date '{older}'), (date '{through}')) as r(d),
                    (values ('{metrics[0]}'), ('{metrics[1]}')) as m(metric)""")


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("dbt_contract")
    database, target = root / "flywheel.duckdb", root / "target"
    business = simulate(DemoConfig(seed=11, scale=0.3, days=120))
    write_file_sources(business, database, root / "landing")
    write_api_sources(
        business, database, Extract(through=business.data_through, preliminary_days=0)
    )
    _plant_duplicates_and_ml(database, business.data_through)
    failed_tests = dbt_invoke(["build"], database, target)
    return {"root": root, "database": database, "target": target, "failed_tests": failed_tests}


@pytest.mark.slow
def test_every_data_test_passes_on_the_demo_warehouse(built_warehouse: dict) -> None:
    assert built_warehouse["failed_tests"] == []


@pytest.mark.slow
def test_built_marts_have_exactly_the_documented_columns(built_warehouse: dict) -> None:
    manifest = json.loads((built_warehouse["target"] / "manifest.json").read_text())
    with connect(built_warehouse["database"], read_only=True) as conn:
        for relation, node in _marts(manifest).items():
            schema, table = relation.split(".")
            built = [
                name
                for (name,) in conn.execute(
                    "select column_name from information_schema.columns where "
                    "table_catalog = current_database() and table_schema = ? and "
                    "table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
            ]
            assert built, f"{relation} was not built"
            documented = list(node["columns"])
            assert sorted(built) == sorted(documented), (
                f"{relation}: undocumented {sorted(set(built) - set(documented))}, "
                f"documented but not built {sorted(set(documented) - set(built))}"
            )


# --- the fan-out tests can fail --------------------------------------------------------------

# Each mutation breaks one model of a scratch copy of the project the way a join or a filter
# goes wrong (or reads an input twice), and names the tests that must catch it. Batches are
# built one after the other, downstream marts first while their inputs are still correct, and
# no mutated model reads another mutated model of its batch, so a failure is the mutation's
# own. The scratch copy runs data tests at severity warn, so that a failing test does not
# skip the models after it.
MUTATIONS: list[list[tuple[str, str, str, list[str]]]] = [
    [
        (
            # every NPS answer of a person, not the latest
            "marts/advocate/promoters.sql",
            "            and latest_nps.response_rank = 1\n",
            "",
            ["promoters_nps_responses_match_staged_nps"],
        ),
        (
            # referrals read twice
            "marts/advocate/promoters.sql",
            "    select * from {{ ref('int_referrals__persons') }}\n",
            "    select * from {{ ref('int_referrals__persons') }}\n    union all\n"
            "    select * from {{ ref('int_referrals__persons') }}\n",
            ["promoters_referrals_match_person_referrals"],
        ),
        (
            # the month of the first order left out of the grid
            "marts/delight/retention_cohorts.sql",
            "on cohort_sizes.cohort_month <= order_months.order_month",
            "on cohort_sizes.cohort_month < order_months.order_month",
            [
                "retention_cohorts_sizes_match_customers",
                "retention_cohorts_month_0_all_active",
                "retention_cohorts_revenue_matches_orders",
            ],
        ),
        (
            # day -> period map without distinct: one row per day and stage
            "intermediate/int_momentum__periods.sql",
            "    select distinct\n        'week' as period_type,",
            "    select\n        'week' as period_type,",
            ["int_momentum__periods_weekly_volumes_match_stages_daily"],
        ),
        (
            "intermediate/int_momentum__periods.sql",
            "    select distinct\n        'month' as period_type,",
            "    select\n        'month' as period_type,",
            ["int_momentum__periods_monthly_volumes_match_stages_daily"],
        ),
        (
            # a topic written twice by the model (two versions of the topics table)
            "marts/engage/conversation_topics.sql",
            "    select * from {{ ref('stg_ml__conversation_topics') }}\n",
            "    select * from {{ ref('stg_ml__conversation_topics') }}\n"
            "    union all\n"
            "    select * from {{ ref('stg_ml__conversation_topics') }}\n"
            "    where topic_id = 0\n",
            [
                "conversation_topics_one_row_per_model_topic",
                "conversation_topics_conversations_match_assigned",
            ],
        ),
        (
            # a person's channel taken from every contact of the person (planted duplicates)
            "intermediate/int_channel_daily__person_channels.sql",
            "        contacts.contact_id as person_id,\n",
            "        persons.person_id,\n",
            ["unique_int_channel_daily__person_channels_person_id"],
        ),
        (
            "intermediate/int_channel_daily__person_channels.sql",
            "            and contacts.contact_id = persons.person_id\n",
            "",
            [],
        ),
    ],
    [
        (
            # extra keys and measures that are not in the staged report
            "marts/attract/traffic_daily.sql",
            "    select * from {{ ref('stg_ga4__traffic_acquisition') }}\n",
            "    select * from {{ ref('stg_ga4__traffic_acquisition') }}\n    union all\n"
            "    select * replace (landing_page || '#copy' as landing_page)\n"
            "    from {{ ref('stg_ga4__traffic_acquisition') }}\n"
            "    where device_category = 'mobile'\n",
            [
                "traffic_daily_one_row_per_staged_ga4_row",
                "traffic_daily_sessions_match_staged_ga4",
                "traffic_daily_engaged_sessions_match_staged_ga4",
                "traffic_daily_key_events_match_staged_ga4",
                "traffic_daily_revenue_matches_staged_ga4",
            ],
        ),
        (
            # rows lost to a filter
            "marts/attract/search_queries_daily.sql",
            "    select * from {{ ref('stg_gsc__search_analytics') }}\n",
            "    select * from {{ ref('stg_gsc__search_analytics') }}\n"
            "    where device != 'tablet'\n",
            [
                "search_queries_daily_one_row_per_staged_gsc_row",
                "search_queries_daily_impressions_match_staged_gsc",
                "search_queries_daily_clicks_match_staged_gsc",
            ],
        ),
        (
            # the CRM measures (int_channel_daily__crm) joined to the spine on the date only
            "marts/attract/channel_daily.sql",
            "    left join crm_daily\n        using (date, channel_group)\n",
            "    left join crm_daily\n        using (date)\n",
            [
                "channel_daily_leads_match_persons",
                "channel_daily_customers_match_lifecycle",
                "channel_daily_revenue_matches_orders",
            ],
        ),
        (
            # GA4 traffic joined to the spine on the date only
            "marts/attract/channel_daily.sql",
            "    left join traffic_daily\n        using (date, channel_group)\n",
            "    left join traffic_daily\n        using (date)\n",
            [
                "channel_daily_sessions_match_staged_ga4",
                "channel_daily_new_users_match_staged_ga4",
                "channel_daily_ga4_revenue_matches_staged_ga4",
            ],
        ),
        (
            # ad spend joined to the spine on the date only
            "marts/attract/channel_daily.sql",
            "    left join spend_daily\n        using (date, channel_group)\n",
            "    left join spend_daily\n        using (date)\n",
            [
                "channel_daily_ad_spend_matches_staged_spend",
                "channel_daily_ad_impressions_match_staged_spend",
                "channel_daily_ad_clicks_match_staged_spend",
            ],
        ),
        (
            # the 28-day windows one day too wide
            "marts/attract/landing_pages.sql",
            "_through.before_window",
            "_through.before_window - 1",
            [
                "landing_pages_sessions_match_staged_ga4_28d",
                "landing_pages_engaged_sessions_match_staged_ga4_28d",
                "landing_pages_search_impressions_match_staged_gsc_28d",
                "landing_pages_search_clicks_match_staged_gsc_28d",
            ],
        ),
        (
            # the identity spine without its identifier_type filter
            "marts/engage/leads.sql",
            "    select * from {{ ref('int_identity__persons') }}\n"
            "    where identifier_type = 'contact_id'\n",
            "    select * from {{ ref('int_identity__persons') }}\n",
            ["leads_merged_contacts_match_crm_contacts"],
        ),
        (
            # every contact instead of the surviving one of each person
            "marts/engage/leads.sql",
            "    inner join merged_contacts\n",
            "    left join merged_contacts\n",
            ["leads_one_row_per_person"],
        ),
        (
            # identified conversations read twice
            "marts/engage/leads.sql",
            "    select * from {{ ref('int_conversations__texts') }}\n",
            "    select * from {{ ref('int_conversations__texts') }}\n    union all\n"
            "    select * from {{ ref('int_conversations__texts') }}\n"
            "    where person_id is not null\n",
            ["leads_conversations_match_identified_conversations"],
        ),
        (
            # every version of the topic assignments, not the latest (planted versions)
            "marts/engage/conversations.sql",
            "    {{ latest_model_output('topic_assignments', ['conversation_id']) }}\n",
            "    select * from topic_assignments\n",
            [
                "conversations_one_row_per_staged_conversation",
                "conversations_messages_match_staged_messages",
            ],
        ),
        (
            # the stage history joined instead of its per-deal summary
            "marts/engage/deals.sql",
            "    left join stage_changes\n",
            "    left join stage_history\n        on person_deals.deal_id = stage_history.deal_id\n"
            "    left join stage_changes\n",
            ["deals_one_row_per_staged_deal", "deals_amount_matches_staged_deals"],
        ),
        (
            # every NPS answer of a customer, not the latest (planted second answers)
            "marts/delight/customers.sql",
            "            and ranked_nps.response_rank = 1\n",
            "",
            ["customers_orders_match_staged_orders", "customers_revenue_matches_staged_orders"],
        ),
        (
            # promoter answers read twice
            "marts/advocate/nps_monthly.sql",
            "    select * from {{ ref('stg_crm__nps_responses') }}\n",
            "    select * from {{ ref('stg_crm__nps_responses') }}\n    union all\n"
            "    select * from {{ ref('stg_crm__nps_responses') }}\n"
            "    where nps_category = 'promoter'\n",
            ["nps_monthly_responses_match_staged_nps", "nps_monthly_promoters_match_staged_nps"],
        ),
        (
            # grouped by person × stage instead of person
            "marts/flywheel/lifecycle.sql",
            "        max(stage_order) as stage_order\n\n    from lifecycle_events\n"
            "    group by person_id\n",
            "        stage_order\n\n    from lifecycle_events\n"
            "    group by person_id, stage_order\n",
            ["lifecycle_one_row_per_person"],
        ),
        (
            # stage labels misspelt in the pivot
            "marts/flywheel/lifecycle.sql",
            "when stage = 'customer' then entered_at",
            "when stage = 'customers' then entered_at",
            ["lifecycle_customers_match_customer_events"],
        ),
        (
            "marts/flywheel/lifecycle.sql",
            "when stage = 'promoter' then entered_at",
            "when stage = 'promoters' then entered_at",
            ["lifecycle_promoters_match_promoter_events"],
        ),
        (
            # entries joined on the date only: every stage gets every stage's entries
            "marts/flywheel/stages_daily.sql",
            "            dates.date = entries.date\n            and stages.stage = entries.stage\n",
            "            dates.date = entries.date\n",
            [
                "stages_daily_prospects_match_lifecycle",
                "stages_daily_customers_match_lifecycle",
                "stages_daily_promoters_match_lifecycle",
                "stages_daily_customer_total_matches_lifecycle",
            ],
        ),
        (
            # every operator decision, not the latest (planted decisions)
            "intermediate/int_recommendations__decisions.sql",
            "            and ranked.decision_rank = 1\n",
            "",
            ["unique_int_recommendations__decisions_recommendation_id"],
        ),
        (
            # a decision read twice by the mart
            "marts/flywheel/recommendations.sql",
            "    select * from {{ ref('int_recommendations__decisions') }}\n",
            "    select * from {{ ref('int_recommendations__decisions') }}\n    union all\n"
            "    select * from {{ ref('int_recommendations__decisions') }}\n",
            ["recommendations_one_row_per_candidate"],
        ),
    ],
    [
        (
            # an outcome row written twice
            "marts/flywheel/recommendation_outcomes.sql",
            "    select * from {{ ref('stg_ml__recommendation_outcomes') }}\n",
            "    select * from {{ ref('stg_ml__recommendation_outcomes') }}\n"
            "    union all\n"
            "    select * from {{ ref('stg_ml__recommendation_outcomes') }}\n"
            "    where metric = 'orders'\n",
            ["recommendation_outcomes_one_row_per_measured_outcome"],
        ),
        (
            # a period of the parts read twice by the mart
            "marts/flywheel/momentum.sql",
            "    select * from {{ ref('int_momentum__model_quality') }}\n",
            "    select * from {{ ref('int_momentum__model_quality') }}\n    union all\n"
            "    select * from {{ ref('int_momentum__model_quality') }}\n"
            "    where period_type = 'month'\n",
            ["momentum_one_row_per_period"],
        ),
        (
            # every member joined to every recommendation
            "marts/flywheel/recommendation_targets.sql",
            "        on targets.recommendation_id = recommendations.recommendation_id\n",
            "        on targets.recommendation_id is not null\n",
            ["recommendation_targets_one_row_per_member"],
        ),
        (
            # contacts without an email dropped from the spine
            "intermediate/int_identity__persons.sql",
            "    from ranked_contacts\n\n),\n\nemail_identifiers",
            "    from ranked_contacts\n    where email is not null\n\n),\n\nemail_identifiers",
            ["int_identity__persons_one_row_per_crm_contact"],
        ),
        (
            # message statistics per conversation × role joined back per conversation
            "intermediate/int_conversations__texts.sql",
            "    from messages\n    group by conversation_id\n",
            "    from messages\n    group by conversation_id, message_role\n",
            ["int_conversations__texts_one_row_per_staged_conversation"],
        ),
        (
            # user messages read twice
            "intermediate/int_conversations__texts.sql",
            "    select * from {{ ref('stg_conversations__messages') }}\n",
            "    select * from {{ ref('stg_conversations__messages') }}\n    union all\n"
            "    select * from {{ ref('stg_conversations__messages') }}\n"
            "    where message_role = 'user'\n",
            ["int_conversations__texts_messages_match_staged_messages"],
        ),
        (
            # the planted referral through a duplicate contact read twice
            "intermediate/int_referrals__persons.sql",
            "    select * from {{ ref('stg_crm__referrals') }}\n",
            "    select * from {{ ref('stg_crm__referrals') }}\n    union all\n"
            "    select * from {{ ref('stg_crm__referrals') }}\n"
            "    where referrer_contact_id like 'dup-%'\n",
            ["int_referrals__persons_records_match_staged_referrals"],
        ),
    ],
]


def _failed_names(failed: list[str]) -> set[str]:
    """`test.flywheel.<name>.<hash>: fail …` -> <name>."""
    return {line.split(":")[0].split(".")[2] for line in failed}


@pytest.fixture(scope="module")
def mutation_results(built_warehouse: dict) -> list[set[str]]:
    root, database = built_warehouse["root"], built_warehouse["database"]
    results = []
    for number, batch in enumerate(MUTATIONS):
        scratch = root / f"mutated_{number}"
        shutil.copytree(
            DBT_PROJECT_DIR,
            scratch,
            ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
        )
        project = scratch / "dbt_project.yml"
        project.write_text(project.read_text().replace("+severity: error", "+severity: warn"))
        models = set()
        for path, old, new, _ in batch:
            file = scratch / "models" / path
            text = file.read_text()
            assert old in text, f"mutation of {path} no longer applies: update MUTATIONS"
            file.write_text(text.replace(old, new))
            models.add(Path(path).stem)
        # --full-refresh: the incremental facts rebuild whole from the mutated SQL; unit
        # tests, which a mutation may fail on purpose, would skip the model
        failed = dbt_invoke(
            [
                "build",
                "--full-refresh",
                "--exclude-resource-type",
                "unit_test",
                "--select",
                *sorted(models),
            ],
            database,
            root / f"target_mutated_{number}",
            project_dir=scratch,
        )
        results.append(_failed_names(failed))
    return results


@pytest.mark.slow
@pytest.mark.parametrize(
    ("batch", "path", "expected"),
    [
        pytest.param(number, path, expected, id=f"{Path(path).stem}:{expected[0]}")
        for number, batch in enumerate(MUTATIONS)
        for path, _, _, expected in batch
        if expected
    ],
)
def test_fan_out_test_fails_when_the_join_breaks(
    mutation_results: list[set[str]], batch: int, path: str, expected: list[str]
) -> None:
    missed = sorted(set(expected) - mutation_results[batch])
    assert not missed, f"breaking {path} did not fail {missed}"


def test_every_fan_out_test_is_shown_to_fail(manifest: dict) -> None:
    """Every fan-out test of the project appears in MUTATIONS: none is unproven. Give a new
    one a `name:` and a mutation that breaks it."""
    shown = {name for batch in MUTATIONS for *_, expected in batch for name in expected}
    fan_out = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and _generic(node) in FAN_OUT_TESTS
    }
    assert fan_out - shown == set(), f"fan-out tests no mutation breaks: {fan_out - shown}"
