"""Snapshots of GA4 and Search Console reports, and the days a source serves.

The demo business writes one Parquet snapshot per report table (sources/demo/assets.py) and
the demo clients serve them in place of the APIs. A snapshot states the days it covers (the
simulated days) in its Parquet metadata: outside them the demo holds nothing, so the raw
assets delete what their tables hold there (an earlier, longer or differently dated demo's
days) when they write their partitions. Live clients state no days: Google keeps its own
history, and rows of days it no longer serves stay.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flywheel_pipeline.sql import relation_name
from flywheel_pipeline.warehouse import fetch_value, relation_exists

# The snapshot's key-value metadata: {"first": "YYYY-MM-DD", "last": "YYYY-MM-DD"}.
DAYS_KEY = b"flywheel.served_days"

Days = tuple[dt.date, dt.date]


def write_snapshot(frame: pd.DataFrame, path: Path, days: Days) -> None:
    """Write `frame` to `path`, stating that it covers `days` (first, last; inclusive).

    Written beside the path, then moved into place: a reader sees the old or the new
    snapshot, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    first, last = days
    stated = json.dumps({"first": first.isoformat(), "last": last.isoformat()})
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), DAYS_KEY: stated})
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial)
    partial.replace(path)


def _existing(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no demo snapshot; materialise demo/business first")
    return path


def read_snapshot(path: Path) -> pd.DataFrame:
    return pd.read_parquet(_existing(path))


def snapshot_days(path: Path) -> Days | None:
    """The days the snapshot at `path` says it covers; None when it does not say (a snapshot
    written without them: nothing outside its rows can be told to be gone)."""
    metadata = pq.read_schema(_existing(path)).metadata or {}
    if DAYS_KEY not in metadata:
        return None
    stated = json.loads(metadata[DAYS_KEY])
    return dt.date.fromisoformat(stated["first"]), dt.date.fromisoformat(stated["last"])


def replaced_rows(days: Days, served: Days | None) -> tuple[str, list[dt.date]]:
    """What a run extracting `days` replaces in its raw table, as a predicate over `date` and
    its parameters: the rows of those days, and when the source states the days it serves,
    every row of a day outside them (the source holds nothing there any more)."""
    start, end = days
    if served is None:
        return "date between ? and ?", [start, end]
    first, last = served
    return "(date between ? and ?) or date < ? or date > ?", [start, end, first, last]


def rows_outside(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, served: Days | None
) -> int:
    """How many rows of `schema.table` lie outside the `served` days (0 when none stated)."""
    if served is None or not relation_exists(conn, f"{schema}.{table}"):
        return 0
    rows = fetch_value(
        conn,
        f"select count(*) from {relation_name(schema, table)} where date < ? or date > ?",
        list(served),
    )
    return rows


def served_metadata(served: Days | None, outside: int) -> dict[str, object]:
    """For the materialisation: the days the source serves, and the rows of other days this
    run deleted. Nothing when the source states no days (live: nothing is ever deleted)."""
    if served is None:
        return {}
    return {
        "served_days": f"{served[0]} .. {served[1]}",
        "rows_outside_range_deleted": dg.MetadataValue.int(outside),
    }
