"""ml.<model>_runs keeps every run: a rerun replaces its own rows, a newer run adds rows."""

from __future__ import annotations

import datetime as dt

import duckdb

from flywheel_pipeline.insights._common import champion, model_run_rows
from flywheel_pipeline.insights.lead_scoring import METRIC_KINDS
from flywheel_pipeline.insights.runs import latest_run, quality_metadata, record_runs

DAY = dt.date(2026, 9, 30)


def _run(day: dt.date, auc: float):
    serving = champion("auc", auc, 0.6)
    return model_run_rows("lead_scoring", day, 100, 20, [("auc", auc, 0.6)], serving)


def test_runs_accumulate_by_run_id_and_the_latest_is_read_back() -> None:
    conn = duckdb.connect()
    assert latest_run(conn, "lead_scoring").empty
    record_runs(conn, "lead_scoring", _run(DAY, 0.55))
    record_runs(conn, "lead_scoring", _run(DAY, 0.70))  # the same data again: replaces
    record_runs(conn, "lead_scoring", _run(DAY + dt.timedelta(days=28), 0.75))
    stored = conn.execute("select data_through, value, served_by from ml.lead_scoring_runs").df()
    assert sorted(stored["value"]) == [0.70, 0.75]
    latest = latest_run(conn, "lead_scoring")
    assert latest.loc["auc", "value"] == 0.75 and latest.loc["auc", "served_by"] == "model"


def test_a_table_from_before_serving_was_recorded_gains_the_columns() -> None:
    conn = duckdb.connect()
    old = _run(DAY, 0.7).drop(columns=["served_by", "serving_reason"])
    record_runs(conn, "lead_scoring", old)
    record_runs(conn, "lead_scoring", _run(DAY + dt.timedelta(days=1), 0.5))
    stored = conn.execute(
        "select value, served_by from ml.lead_scoring_runs order by data_through"
    ).fetchall()
    assert stored == [(0.7, None), (0.5, "baseline")]


def test_a_table_from_before_metric_kind_gains_it_and_its_rows_are_classified() -> None:
    conn = duckdb.connect()
    old = _run(DAY, 0.7).drop(columns=["metric_kind"])
    record_runs(conn, "lead_scoring", old)
    record_runs(conn, "lead_scoring", _run(DAY + dt.timedelta(days=1), 0.5))
    stored = conn.execute(
        "select metric, metric_kind from ml.lead_scoring_runs order by data_through"
    ).fetchall()
    assert stored == [("auc", "higher_is_better"), ("auc", "higher_is_better")]


def test_older_rows_take_the_kinds_the_model_declares() -> None:
    conn = duckdb.connect()
    old = model_run_rows("lead_scoring", DAY, 100, 20, [("converted_leads", 150, 120)])
    record_runs(conn, "lead_scoring", old.drop(columns=["metric_kind"]))
    record_runs(conn, "lead_scoring", _run(DAY + dt.timedelta(days=1), 0.5), METRIC_KINDS)
    kinds = dict(conn.execute("select metric, metric_kind from ml.lead_scoring_runs").fetchall())
    assert kinds == {"converted_leads": "descriptive", "auc": "higher_is_better"}


def test_the_ui_plots_quality_beside_its_baseline_and_data_counts_alone() -> None:
    serving = champion("auc", 0.8, 0.6)
    metrics = [("auc", 0.8, 0.6), ("converted_leads", 120, 50), ("cold_start", 0.0, None)]
    runs = model_run_rows("lead_scoring", DAY, 100, 20, metrics, serving, METRIC_KINDS)
    # a count's minimum (50) is no challenger: it is not shown as the count's baseline
    assert quality_metadata(runs) == {"auc": 0.8, "auc_baseline": 0.6, "converted_leads": 120.0}
