"""Write the demo business as landing files, the way real exports arrive.

One file per table and calendar month (`demo_<table>_<YYYY-MM>.csv`, conversations
`demo_conversations_<YYYY-MM>.jsonl`): a longer run rewrites only the months that changed.
Output is byte-identical for the same business: rows sorted, floats with fixed decimals.
Only files named `demo_*` are ours: stale ones are removed, anything else is left alone.

The demo mirrors its files where real drops accumulate: a file removed from the landing
folder keeps its rows, so after a rewrite `retire_unwritten_files` withdraws the rows of every
demo file the rewrite did not write (another seed, scale or number of days), and the raw
tables hold exactly the new business once the loaders have run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pandas as pd

from flywheel_pipeline.sources.demo.config import DemoBusiness
from flywheel_pipeline.sources.files.drops import (
    CONVERSATIONS_DROP,
    CRM_DROPS,
    live_files,
    retire_files,
)

PREFIX = "demo_"
# The drops whose folders the demo writes.
DEMO_DROPS = (*CRM_DROPS, CONVERSATIONS_DROP)
# The month a row belongs to, and columns written with a fixed number of decimals.
_PARTITION = {
    "contacts": "created_at",
    "deals": "created_at",
    "deal_stage_history": "entered_at",
    "orders": "ordered_at",
    "nps_responses": "responded_at",
    "referrals": "referred_at",
    "ad_spend": "date",
}
_DECIMALS = {"amount": 2, "revenue": 2, "spend": 2}
# The shop system exports order times in its own zone (CEST); everything else is UTC.
_OFFSET_COLUMNS = {("orders", "ordered_at"): "+02:00"}


def _format(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            offset = _OFFSET_COLUMNS.get((table, column))
            if offset:
                shift = pd.Timedelta(hours=int(offset[:3]), minutes=int(offset[4:]))
                local = values.dt.tz_convert("UTC").dt.tz_localize(None) + shift
                text = local.dt.strftime("%Y-%m-%dT%H:%M:%S") + offset
            else:
                text = values.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif pd.api.types.is_datetime64_any_dtype(values):
            text = values.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_bool_dtype(values):
            text = values.map({True: "true", False: "false"})
        elif column in _DECIMALS:
            text = values.map(f"{{:.{_DECIMALS[column]}f}}".format)
        elif pd.api.types.is_float_dtype(values):
            text = values.map("{:.6f}".format)
        else:
            text = values.astype(object).where(values.notna(), None)
            text = text.map(lambda v: v if v is None else str(v))
        out[column] = text.where(values.notna(), "")
    return out


def _write_atomic(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return  # unchanged: keep the file (and its mtime) as it is
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _months(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[column]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.dt.strftime("%Y-%m")


def _clean_stale(folder: Path, keep: set[Path], pattern: str) -> None:
    for path in folder.glob(pattern):
        if path not in keep:
            path.unlink()


def write_landing_files(business: DemoBusiness, landing_dir: Path) -> list[Path]:
    """Write conversations and CRM tables under `landing_dir`; returns the files written."""
    landing_dir = Path(landing_dir)
    written: list[Path] = []
    for table, frame in business.crm.items():
        folder = landing_dir / "crm" / table
        folder.mkdir(parents=True, exist_ok=True)
        months = _months(frame, _PARTITION[table])
        text = _format(table, frame)
        mine: set[Path] = set()
        for month in sorted(months.unique()):
            part = text[(months == month).to_numpy()]
            path = folder / f"{PREFIX}{table}_{month}.csv"
            _write_atomic(path, part.to_csv(index=False, lineterminator="\n").encode("utf-8"))
            mine.add(path)
        if frame.empty:  # still deliver the header so the table exists
            path = folder / f"{PREFIX}{table}.csv"
            _write_atomic(path, text.to_csv(index=False, lineterminator="\n").encode("utf-8"))
            mine.add(path)
        _clean_stale(folder, mine, f"{PREFIX}{table}*.csv")
        written += sorted(mine)

    folder = landing_dir / "conversations"
    folder.mkdir(parents=True, exist_ok=True)
    mine = set()
    # Rendered and written a month at a time: all the records at once do not fit the budget.
    for month, records in business.conversations.by_month():
        lines = [json.dumps(record, ensure_ascii=False) for record in records]
        path = folder / f"{PREFIX}conversations_{month}.jsonl"
        _write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))
        mine.add(path)
    _clean_stale(folder, mine, f"{PREFIX}conversations*.jsonl")
    written += sorted(mine)

    (landing_dir / "decisions").mkdir(parents=True, exist_ok=True)
    return written


def retire_unwritten_files(
    conn: duckdb.DuckDBPyConnection, landing_dir: Path, written: list[Path]
) -> list[str]:
    """Retire the rows of demo files the manifest knows but this rewrite did not write.

    Read from the manifest rather than from what the rewrite removed, so that a run that
    died between removing files and retiring them is made good by the next one.
    """
    current = {path.relative_to(landing_dir).as_posix() for path in written}
    retired: list[str] = []
    for source in DEMO_DROPS:
        stale = [
            file
            for file in live_files(conn, source)
            if Path(file).name.startswith(PREFIX) and file not in current
        ]
        retired += retire_files(conn, source, stale)
    return retired
