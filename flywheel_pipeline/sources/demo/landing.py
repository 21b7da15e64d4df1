"""Write the demo business as landing files, the way real exports arrive.

One file per table and calendar month (`demo_<table>_<YYYY-MM>.csv`, conversations
`demo_conversations_<YYYY-MM>.jsonl`): a longer run rewrites only the months that changed.
Output is byte-identical for the same business: rows sorted, floats with fixed decimals.
Only files named `demo_*` are ours: stale ones are removed, anything else is left alone.

The demo mirrors its files where real drops accumulate, and a file removed from a landing
folder keeps its rows. So each folder it writes gets a mirror marker (`.flywheel-mirror`,
files/drops.py) naming `demo_*`: the folder's loader retires the rows of such files once they
are gone (another seed, scale or number of days), and the raw tables hold exactly the new
business once the loaders have run. The demo itself writes no raw table.
"""

from __future__ import annotations

import contextlib
import filecmp
import itertools
import multiprocessing
import operator
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from flywheel_pipeline.processes import die_with
from flywheel_pipeline.sources.demo.config import DemoBusiness
from flywheel_pipeline.sources.demo.spill import Tables
from flywheel_pipeline.sources.files.drops import MIRROR_FILE, mirror_marker

PREFIX = "demo_"
# Conversations from which to render them in several processes, and at most how many.
PARALLEL_RENDER_FROM = 150_000
MAX_RENDER_WORKERS = 4
# What the folders the demo writes mirror: its own files, never a real drop beside them.
MIRRORED = mirror_marker([f"{PREFIX}*"], owner="the Flywheel demo (sources/demo/landing.py)")
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


def _stamps(values: pd.Series, unit: str) -> pd.Series:
    """ISO text of naive timestamps to the second or the day (numpy's formatting: pandas'
    strftime takes seconds for a million values)."""
    text = np.datetime_as_string(values.to_numpy().astype(f"datetime64[{unit}]"), unit=unit)
    return pd.Series(text.astype(object), index=values.index)


def _format(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            offset = _OFFSET_COLUMNS.get((table, column))
            local = values.dt.tz_convert("UTC").dt.tz_localize(None)
            if offset:
                local = local + pd.Timedelta(hours=int(offset[:3]), minutes=int(offset[4:]))
            text = _stamps(local, "s") + (offset or "Z")
        elif pd.api.types.is_datetime64_any_dtype(values):
            text = _stamps(values, "D")
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


def _clean_stale(folder: Path, keep: set[Path], pattern: str) -> None:
    for path in folder.glob(pattern):
        if path not in keep:
            path.unlink()


def _mark_mirrored(folder: Path) -> None:
    # Before any file is removed: a loader running after a crash mid-rewrite must already
    # know that the folder's demo files are a mirror.
    _write_atomic(folder / MIRROR_FILE, MIRRORED.encode("utf-8"))


def _write_streamed(path: Path, parts: Iterable[bytes]) -> None:
    """`_write_atomic` for a file too large to hold at once."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        for data in parts:
            out.write(data)
    if path.exists() and filecmp.cmp(partial, path, shallow=False):
        partial.unlink()  # unchanged: keep the file (and its mtime) as it is
    else:
        os.replace(partial, path)


@contextlib.contextmanager
def _render_workers(conversations: int) -> Iterator[tuple[Executor | None, int]]:
    """Processes that render conversations beside this one, when there are enough of them to
    pay for starting the processes (rendering is most of the writing: Python per message)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(cores or 1, MAX_RENDER_WORKERS)
    if conversations < PARALLEL_RENDER_FROM or workers < 2:
        yield None, 0
        return
    spawn = multiprocessing.get_context("spawn")
    # They die with this process, as it dies with the run (see processes.die_with).
    with ProcessPoolExecutor(workers, spawn, initializer=die_with, initargs=(os.getpid(),)) as pool:
        yield pool, 2 * workers


def write_landing_files(business: DemoBusiness, landing_dir: Path) -> list[Path]:
    """Write conversations and CRM tables under `landing_dir`; returns the files written.

    A month at a time, conversations a batch at a time: at scale 1000 a month of contacts is
    half a million rows, and a month of conversations gigabytes once rendered. From
    PARALLEL_RENDER_FROM conversations on, spawned processes render them, so a script that
    calls this must keep its own work under `if __name__ == "__main__":`.
    """
    landing_dir = Path(landing_dir)
    crm = business.crm if isinstance(business.crm, Tables) else Tables(dict(business.crm))
    written: list[Path] = []
    for table in crm:
        folder = landing_dir / "crm" / table
        folder.mkdir(parents=True, exist_ok=True)
        _mark_mirrored(folder)
        mine: set[Path] = set()
        for month, frame in crm.by_month(table, _PARTITION[table]):
            text = _format(table, frame)
            path = folder / f"{PREFIX}{table}_{month}.csv"
            _write_atomic(path, text.to_csv(index=False, lineterminator="\n").encode("utf-8"))
            mine.add(path)
        if not mine:  # still deliver the header so the table exists
            text = _format(table, crm.empty(table))
            path = folder / f"{PREFIX}{table}.csv"
            _write_atomic(path, text.to_csv(index=False, lineterminator="\n").encode("utf-8"))
            mine.add(path)
        _clean_stale(folder, mine, f"{PREFIX}{table}*.csv")
        written += sorted(mine)

    folder = landing_dir / "conversations"
    folder.mkdir(parents=True, exist_ok=True)
    _mark_mirrored(folder)
    mine = set()
    with _render_workers(len(business.conversations)) as (workers, ahead):
        batches = business.conversations.jsonl(workers, ahead)
        for month, parts in itertools.groupby(batches, key=operator.itemgetter(0)):
            path = folder / f"{PREFIX}conversations_{month}.jsonl"
            _write_streamed(path, (data for _, data in parts))
            mine.add(path)
    _clean_stale(folder, mine, f"{PREFIX}conversations*.jsonl")
    written += sorted(mine)

    (landing_dir / "decisions").mkdir(parents=True, exist_ok=True)
    return written
