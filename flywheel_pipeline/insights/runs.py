"""The history of model runs: each insight asset appends its run to ``ml.<model>_runs``.

A run is keyed by ``run_id`` (a hash of the model and ``data_through``): a rerun on the same
data replaces its own rows, a run on newer data adds rows, so ``flywheel.model_runs`` shows
quality run after run.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

from flywheel_pipeline.tables import HIGHER_IS_BETTER, LOWER_IS_BETTER, RUNS, Table
from flywheel_pipeline.warehouse import (
    read_relation_if_exists,
    replace_rows,
    table_columns,
)


def runs_of(model: str) -> Table:
    """The declared ``ml.<model>_runs`` table of ``model``."""
    try:
        return RUNS[model]
    except KeyError:
        raise KeyError(
            f"no runs table declared for model {model!r} (flywheel_pipeline/tables.py RUNS)"
        ) from None


def runs_table(model: str) -> str:
    return runs_of(model).relation


def record_runs(
    conn: duckdb.DuckDBPyConnection,
    model: str,
    runs: pd.DataFrame,
    kinds: Mapping[str, str] | None = None,
) -> None:
    """Append this run's rows (replacing an earlier write of the same run_id).

    A table from before a column existed gains it (e.g. ``metric_kind``); its older rows'
    ``metric_kind`` is filled from this run's rows and ``kinds`` (the model's declarations),
    so that their metrics count in ``flywheel.model_runs`` as the new ones do.
    """
    if runs.empty:
        return
    keys = sorted(set(runs["run_id"]))
    table = runs_of(model)
    replace_rows(conn, table.relation, runs, key_column="run_id", keys=keys)
    _fill_metric_kinds(conn, table, runs, kinds or {})


def _fill_metric_kinds(
    conn: duckdb.DuckDBPyConnection, table: Table, runs: pd.DataFrame, kinds: Mapping[str, str]
) -> None:
    if "metric_kind" not in table_columns(conn, table.relation):
        return
    known = dict(kinds)
    if "metric_kind" in runs:
        written = runs.dropna(subset=["metric_kind"])
        known.update(
            zip(written["metric"].astype(str), written["metric_kind"].astype(str), strict=True)
        )
    if not known:
        return
    conn.execute(
        f"update {table.quoted} as runs set metric_kind = kinds.kind "
        "from (select unnest(?) as metric, unnest(?) as kind) as kinds "
        "where runs.metric = kinds.metric and runs.metric_kind is null",
        [list(known), list(known.values())],
    )


def quality_metadata(model_runs: pd.DataFrame) -> dict[str, float]:
    """Each metric of a run that has a reference value, as numbers the Dagster UI plots
    materialisation after materialisation: a quality metric beside its naive baseline
    (``<metric>_baseline``); a descriptive one (a data count beside its stated minimum, the
    holdout's base rate beside training's) alone, since its reference is no challenger."""
    quality: dict[str, float] = {}
    for row in model_runs.itertuples():
        if pd.isna(row.value) or pd.isna(row.baseline_value):
            continue
        quality[row.metric] = float(row.value)
        if row.metric_kind in (HIGHER_IS_BETTER, LOWER_IS_BETTER):
            quality[f"{row.metric}_baseline"] = float(row.baseline_value)
    return quality


def latest_run(conn: duckdb.DuckDBPyConnection, model: str) -> pd.DataFrame:
    """The newest run of ``model`` indexed by metric (no rows when it never ran)."""
    runs = read_relation_if_exists(conn, runs_table(model))
    if runs is None or runs.empty:
        return pd.DataFrame(columns=["value", "baseline_value", "served_by", "serving_reason"])
    return runs[runs["data_through"] == runs["data_through"].max()].set_index("metric")
