"""The recommendations asset: rank every action type together by expected impact."""

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline.insights._common import max_date
from flywheel_pipeline.metadata import frame_metadata
from flywheel_pipeline.recommendations.candidates import build_candidates
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    read_relation,
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


def _exists(conn: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, table = relation.split(".")
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _read_optional(conn: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame | None:
    return read_relation(conn, relation) if _exists(conn, relation) else None


def read_inputs(conn: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame | None]:
    """Every input of :func:`build_candidates` that the warehouse holds (``None`` where a
    table is missing), keyed by its argument name."""
    relations = {**_ML_INPUTS, **_STAGING_INPUTS}
    inputs = {name: _read_optional(conn, relation) for name, relation in relations.items()}
    runs = [frame for rel in _RUNS if (frame := _read_optional(conn, rel)) is not None]
    inputs["model_runs"] = pd.concat(runs, ignore_index=True) if runs else None
    inputs["traffic"] = conn.execute(_TRAFFIC_SQL).df() if _exists(conn, _TRAFFIC) else None
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
        candidates = build_candidates(data_through=data_through, cycle=config.cycle, **inputs)
        replace_table(conn, "ml.recommendation_candidates", candidates)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            candidates.sort_values("priority"),
            preview_rows=10,
            by_type=dg.MetadataValue.json(candidates["type"].value_counts().to_dict()),
            data_through=dg.MetadataValue.text(str(data_through)),
        )
    )


# Declared so lineage and groups are right today; outcome measurement (SPEC §7: difference in
# differences against untouched targets) will materialise it. Until then the marts that read
# it (flywheel.recommendation_outcomes, flywheel.momentum) see it as empty.
recommendation_outcomes = dg.AssetSpec(
    ["ml", "recommendation_outcomes"],
    group_name="flywheel",
    description="Measured outcome of each done recommendation (not produced yet).",
    kinds={"duckdb"},
)


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=[recommendation_candidates, recommendation_outcomes])
