"""The history of model runs: each insight asset appends its run to ``ml.<model>_runs``.

A run is keyed by ``run_id`` (a hash of the model and ``data_through``): a rerun on the same
data replaces its own rows, a run on newer data adds rows, so ``flywheel.model_runs`` shows
quality run after run.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from flywheel_pipeline.warehouse import read_relation_if_exists, replace_rows


def runs_table(model: str) -> str:
    return f"ml.{model}_runs"


def record_runs(conn: duckdb.DuckDBPyConnection, model: str, runs: pd.DataFrame) -> None:
    """Append this run's rows (replacing an earlier write of the same run_id)."""
    if runs.empty:
        return
    keys = sorted(set(runs["run_id"]))
    replace_rows(conn, runs_table(model), runs, key_column="run_id", keys=keys)


def latest_run(conn: duckdb.DuckDBPyConnection, model: str) -> pd.DataFrame:
    """The newest run of ``model`` indexed by metric (no rows when it never ran)."""
    runs = read_relation_if_exists(conn, runs_table(model))
    if runs is None or runs.empty:
        return pd.DataFrame(columns=["value", "baseline_value", "served_by", "serving_reason"])
    return runs[runs["data_through"] == runs["data_through"].max()].set_index("metric")
