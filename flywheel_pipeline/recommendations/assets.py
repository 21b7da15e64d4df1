"""The recommendation assets: rank every action type together by expected impact, and
measure the outcome of the done ones."""

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline.insights._common import max_date
from flywheel_pipeline.metadata import frame_metadata
from flywheel_pipeline.recommendations.candidates import build_candidates, with_decided_history
from flywheel_pipeline.recommendations.outcomes import measure_outcomes
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    read_relation_if_exists,
    relation_exists,
    replace_table,
)


class RecommendationConfig(dg.Config):
    cycle: int = 0  # the closed-loop simulation numbers its turns of the wheel


# Model-driven inputs: a table an insight asset has not written yet (a cold start, or an asset
# that failed for lack of data) is read as missing, and its action type proposes nothing.
_ML_INPUTS = {
    "topics": "ml.conversation_topics",
    "assignments": "ml.conversation_topic_assignments",
    "lead_scores": "ml.lead_scores",
    "deal_scores": "ml.deal_scores",
    "customer_value": "ml.customer_value",
    "search_opportunities": "ml.search_opportunities",
}
_RUNS = ["ml.lead_scoring_runs", "ml.deal_scoring_runs", "ml.customer_value_runs"]
_STAGING_INPUTS = {
    "conversations": "staging.stg_conversations__conversations",
    "orders": "staging.stg_crm__orders",
    "contacts": "staging.stg_crm__contacts",
    "deals": "staging.stg_crm__deals",
    "nps": "staging.stg_crm__nps_responses",
    "referrals": "staging.stg_crm__referrals",
}
# Sessions per day and landing page are all rewrite_title needs: summed in the warehouse, the
# traffic report's source × medium × device rows never travel into pandas.
_TRAFFIC = "staging.stg_ga4__traffic_acquisition"
_TRAFFIC_SQL = (
    f"select report_date, landing_page, sum(sessions) as sessions from {_TRAFFIC} "
    "group by report_date, landing_page"
)


def read_inputs(conn: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame | None]:
    """Every input of :func:`build_candidates` that the warehouse holds (``None`` where a
    table is missing), keyed by its argument name."""
    relations = {**_ML_INPUTS, **_STAGING_INPUTS}
    inputs = {name: read_relation_if_exists(conn, relation) for name, relation in relations.items()}
    runs = [frame for rel in _RUNS if (frame := read_relation_if_exists(conn, rel)) is not None]
    inputs["model_runs"] = pd.concat(runs, ignore_index=True) if runs else None
    inputs["traffic"] = conn.execute(_TRAFFIC_SQL).df() if relation_exists(conn, _TRAFFIC) else None
    return inputs


# Where no model has an as-of date yet, the last event in the CRM and conversation data.
_EVENT_TIMES = {
    "orders": "ordered_at",
    "conversations": "started_at",
    "nps": "responded_at",
    "referrals": "referred_at",
}


def as_of(inputs: dict[str, pd.DataFrame | None]) -> dt.date | None:
    """``data_through`` of the candidates: the latest as-of date of the models (never the
    wall clock, so replays reproduce), else the last event in the staging inputs."""

    def latest(columns: dict[str, str]) -> dt.date | None:
        return max_date(*(
            frame[column] for name, column in columns.items()
            if (frame := inputs.get(name)) is not None and column in frame
        ))  # fmt: skip

    return latest(dict.fromkeys(_ML_INPUTS, "data_through")) or latest(_EVENT_TIMES)


# Only recommendations someone acted on matter: the done ones are measured, the accepted ones
# may not serve as controls. Their decisions come from intermediate.int_recommendations__decisions
# (as flywheel.recommendations has them), not from that mart: the mart is built by the dbt
# invocation that also builds flywheel.recommendation_outcomes from this asset's table.
_CANDIDATES = "ml.recommendation_candidates"
_DECISIONS = "intermediate.int_recommendations__decisions"


@dg.asset(
    key=["ml", "recommendation_candidates"],
    deps=[
        ["ml", "conversation_topics"],
        ["ml", "conversation_topic_assignments"],
        ["ml", "lead_scores"],
        ["ml", "lead_scoring_runs"],
        ["ml", "deal_scores"],
        ["ml", "deal_scoring_runs"],
        ["ml", "customer_value"],
        ["ml", "customer_value_runs"],
        ["ml", "search_opportunities"],
        ["staging", "stg_conversations__conversations"],
        ["staging", "stg_crm__orders"],
        ["staging", "stg_crm__contacts"],
        ["staging", "stg_crm__deals"],
        ["staging", "stg_crm__nps_responses"],
        ["staging", "stg_crm__referrals"],
        ["staging", "stg_ga4__traffic_acquisition"],
        ["intermediate", "int_recommendations__decisions"],
    ],
    group_name="flywheel",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def recommendation_candidates(
    config: RecommendationConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Proposed actions with evidence, expected impact in one unit, priority and confidence."""
    with warehouse.get_connection() as conn:
        inputs = read_inputs(conn)
        data_through = as_of(inputs)
        fresh = build_candidates(data_through=data_through, cycle=config.cycle, **inputs)
        decisions = read_relation_if_exists(conn, _DECISIONS)
        candidates = with_decided_history(
            fresh,
            read_relation_if_exists(conn, _CANDIDATES),
            [] if decisions is None else decisions["recommendation_id"],
        )
        replace_table(conn, _CANDIDATES, candidates)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            candidates.sort_values("priority"),
            preview_rows=10,
            by_type=dg.MetadataValue.json(candidates["type"].value_counts().to_dict()),
            data_through=dg.MetadataValue.text(str(data_through)),
            proposed_now=dg.MetadataValue.int(len(fresh)),
            decided_earlier=dg.MetadataValue.int(len(candidates) - len(fresh)),
        )
    )


_ACTED_COLUMNS = ["recommendation_id", "type", "target_type", "target_id", "accepted_at", "done_at"]
# Day × query × page, country and device summed by dbt: CTR is measured per day × query.
_SEARCH = "intermediate.int_search__query_pages_daily"
_OUTCOME_INPUTS = {
    "conversations": "staging.stg_conversations__conversations",
    "assignments": "ml.conversation_topic_assignments",
    "contacts": "staging.stg_crm__contacts",
    "orders": "staging.stg_crm__orders",
    "deals": "staging.stg_crm__deals",
    "stage_history": "staging.stg_crm__deal_stage_history",
}


def read_outcome_inputs(conn: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame | None]:
    """Every input of :func:`measure_outcomes` besides the recommendations (``None`` where
    a table is missing), keyed by its argument name."""
    inputs = {name: read_relation_if_exists(conn, rel) for name, rel in _OUTCOME_INPUTS.items()}
    inputs["search"] = read_relation_if_exists(conn, _SEARCH)
    return inputs


def acted_recommendations(
    candidates: pd.DataFrame | None, decisions: pd.DataFrame | None
) -> pd.DataFrame | None:
    """The candidates someone accepted or did, with when (``None`` without either table)."""
    if candidates is None or decisions is None:
        return None
    acted = candidates.merge(decisions, on="recommendation_id")
    acted = acted[acted["accepted_at"].notna() | acted["done_at"].notna()]
    return acted[_ACTED_COLUMNS].reset_index(drop=True)


@dg.asset(
    key=["ml", "recommendation_outcomes"],
    deps=[
        ["ml", "recommendation_candidates"],
        ["intermediate", "int_recommendations__decisions"],
        ["ml", "conversation_topic_assignments"],
        ["intermediate", "int_search__query_pages_daily"],
        ["staging", "stg_conversations__conversations"],
        ["staging", "stg_crm__contacts"],
        ["staging", "stg_crm__orders"],
        ["staging", "stg_crm__deals"],
        ["staging", "stg_crm__deal_stage_history"],
    ],
    group_name="flywheel",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def recommendation_outcomes(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Measured outcome of every done recommendation against comparable untouched targets
    (difference in differences or a matched cohort, with a 95 % interval; see
    flywheel_pipeline/recommendations/outcomes.py)."""
    with warehouse.get_connection() as conn:
        acted = acted_recommendations(
            read_relation_if_exists(conn, _CANDIDATES), read_relation_if_exists(conn, _DECISIONS)
        )
        done = 0 if acted is None else int(acted["done_at"].notna().sum())
        inputs = read_outcome_inputs(conn) if done else {}
        outcomes = measure_outcomes(acted, **inputs)
        replace_table(conn, "ml.recommendation_outcomes", outcomes)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            outcomes,
            preview_rows=10,
            done_recommendations=dg.MetadataValue.int(done),
            measured_recommendations=dg.MetadataValue.int(outcomes["recommendation_id"].nunique()),
            by_metric=dg.MetadataValue.json(
                {str(k): int(v) for k, v in outcomes["metric"].value_counts().items()}
            ),
        )
    )


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=[recommendation_candidates, recommendation_outcomes])
