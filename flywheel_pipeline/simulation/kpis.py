"""The row one cycle of one arm adds to ``flywheel.simulation_cycles``: the business over the
cycle's days, the loop so far, each model's primary metric and the wheel's phase."""

from __future__ import annotations

import datetime as dt

import duckdb

from flywheel_pipeline.evaluation.loop import outcomes_against_planted
from flywheel_pipeline.warehouse import fetch_value, relation_exists

# Per model, the metric that says most about it (flywheel.model_runs; higher is better except
# for the CTR curve's error; topics: how stably held-out conversations are assigned).
PRIMARY_METRICS = {
    "conversation_topics": "holdout_assignment_stability_ari",
    "lead_scoring": "auc",
    "deal_scoring": "auc",
    "customer_value": "correlation",
    "search_ctr_curve": "ctr_mae_weighted",
}
MODEL_COLUMNS = [f"{model}_{metric}" for model, metric in PRIMARY_METRICS.items()]
CYCLE_COLUMNS = [
    "arm",
    "cycle",
    "data_through",
    "sessions",
    "leads",
    "customers",
    "revenue",
    "conversations",
    "recommendations_done",
    "outcomes_measured",
    "outcomes_covering_planted",
    *MODEL_COLUMNS,
    "phase",
]

# The business over [first, last] (days, inclusive), from the marts BI tools read.
_BUSINESS = {
    "sessions": "select sum(sessions) from attract.channel_daily where date between ? and ?",
    "leads": "select count(*) from engage.leads where cast(created_at as date) between ? and ?",
    "customers": (
        "select count(*) from flywheel.lifecycle "
        "where cast(became_customer_at as date) between ? and ?"
    ),
    "revenue": (
        "select sum(revenue) from staging.stg_crm__orders "
        "where cast(ordered_at as date) between ? and ?"
    ),
    "conversations": (
        "select count(*) from engage.conversations where cast(started_at as date) between ? and ?"
    ),
}


def model_quality(conn: duckdb.DuckDBPyConnection) -> dict[str, float | None]:
    """Each model's primary metric in its latest run."""
    quality: dict[str, float | None] = dict.fromkeys(MODEL_COLUMNS)
    if not relation_exists(conn, "flywheel.model_runs"):
        return quality
    for model, metric in PRIMARY_METRICS.items():
        quality[f"{model}_{metric}"] = fetch_value(
            conn,
            "select arg_max(value, data_through) from flywheel.model_runs "
            "where model = ? and metric = ?",
            [model, metric],
        )
    return quality


def latest_phase(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The wheel's phase in the latest ISO week of flywheel.momentum."""
    if not relation_exists(conn, "flywheel.momentum"):
        return None
    return fetch_value(
        conn,
        "select phase from flywheel.momentum where period_type = 'week' "
        "order by period_start desc limit 1",
    )


def cycle_row(
    conn: duckdb.DuckDBPyConnection,
    *,
    arm: str,
    cycle: int,
    window: tuple[dt.date, dt.date],
    recommendations_done: int,
) -> dict:
    first, last = window
    row: dict = {"arm": arm, "cycle": cycle, "data_through": last}
    for name, sql in _BUSINESS.items():
        value = fetch_value(conn, sql, [first, last])
        row[name] = float(value or 0) if name == "revenue" else int(value or 0)
    outcomes = outcomes_against_planted(conn)
    row["recommendations_done"] = recommendations_done
    row["outcomes_measured"] = int(outcomes["recommendation_id"].nunique())
    covering = outcomes.loc[outcomes["covers_planted"].fillna(False), "recommendation_id"]
    row["outcomes_covering_planted"] = int(covering.nunique())
    row.update(model_quality(conn))
    row["phase"] = latest_phase(conn)
    return row
