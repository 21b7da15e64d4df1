"""`flywheel status`: the last runs, each source's state, the landing folders' files and
quarantine, and who holds the warehouse pool.

Runs, source health and the pool come from the Dagster instance, so they show while a run
is writing the warehouse; the file counts need the warehouse, which DuckDB does not open
(even to read) while another process writes it: then status says so.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from flywheel_pipeline.operations.recovery import pool_holders
from flywheel_pipeline.settings import Settings
from flywheel_pipeline.sources.files.manifest import MANIFEST_RELATION, summary
from flywheel_pipeline.sources.source_health import source_health
from flywheel_pipeline.warehouse import fetch_value

RUNS_SHOWN = 5


def run_lines(instance: dg.DagsterInstance, limit: int = RUNS_SHOWN) -> list[str]:
    """The latest runs, newest first: start, status, job, run id and duration."""
    lines = []
    for record in instance.get_run_records(limit=limit):
        run = record.dagster_run
        started = _moment(record.start_time)
        took = (
            f"{record.end_time - record.start_time:,.0f} s"
            if record.start_time and record.end_time
            else "running"
            if run.status == dg.DagsterRunStatus.STARTED
            else ""
        )
        lines.append(
            f"{started:<20} {run.status.value:<9} {run.job_name:<16} {run.run_id[:8]}  {took}"
        )
    return lines or ["no run recorded in this Dagster instance yet"]


def source_lines(instance: dg.DagsterInstance, settings: Settings) -> list[str]:
    """One line per source table (Google) or landing folder, marked when stale or failing."""
    lines = []
    for health in source_health(instance, settings):
        mark = "STALE: " if health.stale else "FAILED: " if health.status == "rejected" else ""
        lines.append(mark + health.summary())
    return lines


def pool_lines(instance: dg.DagsterInstance) -> list[str]:
    """Who holds the warehouse pool now, or that it is free."""
    holders = pool_holders(instance)
    return [f"held by {holder}" for holder in holders] or ["free"]


def drop_lines(settings: Settings) -> list[str]:
    """Files per landing source (latest version of each path), rows loaded and quarantined."""
    if not settings.duckdb_path.exists():
        return [f"no warehouse yet at {settings.duckdb_path}"]
    try:
        conn = duckdb.connect(str(settings.duckdb_path), read_only=True)
    except duckdb.IOException:
        return ["the warehouse is being written by a run: file counts show when it is done"]
    with conn:
        known = fetch_value(
            conn,
            "select count(*) from information_schema.tables "
            "where table_schema || '.' || table_name = ?",
            [MANIFEST_RELATION],
        )
        drops = summary(conn) if known else []
    if not drops:
        return ["no landing file loaded yet"]
    lines = []
    for drop in drops:
        rejected = f", {drop.rejected} rejected" if drop.rejected else ""
        quarantined = (
            f", {drop.rows_quarantined:,} quarantined (raw.quarantine)"
            if drop.rows_quarantined
            else ""
        )
        lines.append(
            f"{drop.source:<24} {drop.files:>4} file(s){rejected}, {drop.rows_loaded:>10,} rows"
            f"{quarantined}; last file loaded {_moment(drop.last_loaded_at)}"
        )
    return lines


def _moment(value: float | dt.datetime | None) -> str:
    if value is None:
        return "never"
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return f"{value:%Y-%m-%d %H:%M} UTC"
