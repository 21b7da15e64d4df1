"""Rows kept on disk between the simulator and the landing writer.

At scale 1000 the tables (3 M contacts, 6 M conversations) do not fit the simulator's memory
budget as DataFrames, and neither do the people that make them. The simulator makes its people
a chunk of arrival days at a time and puts each chunk's rows here (Arrow files in a temporary
folder, per table, month and chunk); the landing writer reads them back a month at a time, and
a whole table is only read when somebody asks for it (tests, the truths).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flywheel_pipeline.processes import pid_alive

ALL = "all"  # the single partition of a table that is not split by month


def trim_memory() -> None:
    """Give freed memory back to the system. glibc keeps the pages of freed small objects
    (the strings of a chunk's frames) in its heap: after a chunk of people half the process's
    memory can be such garbage, and it would count towards the peak until the process ends."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def months_of(values: pd.Series | np.ndarray) -> np.ndarray:
    """YYYY-MM of timestamps (UTC when they carry a zone)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = np.asarray(values, dtype="datetime64[ns]").astype("datetime64[M]")
    return np.datetime_as_string(stamps, unit="M")


PREFIX = "flywheel-demo-"


class Spill:
    """A temporary folder that lives as long as the business that refers to it."""

    def __init__(self) -> None:
        _remove_orphans()
        self._folder = tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-")
        self.root = Path(self._folder.name)
        self._names = itertools.count()

    def table(
        self, name: str, sort_by: list[str] | None = None, month: str | None = None
    ) -> SpilledTable:
        folder = self.root / name
        folder.mkdir()
        return SpilledTable(self, folder, sort_by, month)

    def file_name(self) -> str:
        return f"part-{next(self._names):06d}.arrow"


def _remove_orphans() -> None:
    """Remove the folders of simulations whose process is gone: one killed outright (a
    cancelled run) leaves gigabytes behind at large scales."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


class SpilledTable:
    """One table's rows, added part by part; read back sorted by `sort_by` (whose keys are
    unique, so that the order of the parts does not matter) or, without it, in the order they
    were added. With `month`, parts are split by the month of that column."""

    def __init__(
        self, spill: Spill, folder: Path, sort_by: list[str] | None, month: str | None
    ) -> None:
        self._spill = spill  # keeps the folder alive
        self.folder = folder
        self.sort_by = sort_by
        self.month = month
        self.rows = 0
        self._empty: pd.DataFrame | None = None
        self._parts: dict[str, list[Path]] = {}
        self._counts: dict[str, int] = {}

    def add(self, frame: pd.DataFrame) -> None:
        if self._empty is None:
            self._empty = frame.iloc[:0].copy()
        if frame.empty:
            return
        self.rows += len(frame)
        if self.month is None:
            self._write(ALL, frame)
            return
        months = months_of(frame[self.month])
        if (months == months[0]).all():
            self._write(str(months[0]), frame)
            return
        for month in np.unique(months):
            self._write(str(month), frame[months == month])

    def _write(self, partition: str, frame: pd.DataFrame) -> None:
        path = self.folder / f"{partition}-{self._spill.file_name()}"
        table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        self._parts.setdefault(partition, []).append(path)
        self._counts[partition] = self._counts.get(partition, 0) + len(frame)

    def __len__(self) -> int:
        return self.rows

    def empty(self) -> pd.DataFrame:
        """No rows, with the table's columns and types."""
        if self._empty is None:
            raise ValueError(f"nothing was ever added to {self.folder.name}")
        return self._empty.copy()

    def partitions(self) -> list[str]:
        """The months that have rows, in order (or ALL for a table not split by month)."""
        return sorted(self._parts)

    def count(self, partition: str) -> int:
        return self._counts.get(partition, 0)

    def paths(self, partition: str) -> list[Path]:
        """The files of a partition, in the order they were added."""
        return list(self._parts.get(partition, []))

    def read(self, partition: str | None = None) -> pd.DataFrame:
        """One month's rows, or all of them."""
        table = self.arrow(partition)
        if table is None:
            return self.empty()
        # Column by column, letting each column's Arrow memory go once converted.
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        trim_memory()
        # Arrow's null type comes back as object columns of None: what the frame held.
        empty = self.empty()
        for column in frame.columns:
            if frame[column].dtype != empty[column].dtype and frame[column].isna().all():
                frame[column] = frame[column].astype(empty[column].dtype)
        return frame

    def arrow(self, partition: str | None = None) -> pa.Table | None:
        """`read` as an Arrow table (None without rows)."""
        names = self.partitions() if partition is None else [partition]
        if not any(self._parts.get(name) for name in names):
            return None
        if self.sort_by and self.month == self.sort_by[0]:
            # Months follow each other in the order: sorting month by month needs memory for
            # one month's copy, not the whole table's.
            tables = [self._sorted(self._parts[name]) for name in names]
        else:
            tables = [self._sorted([path for name in names for path in self._parts[name]])]
        return pa.concat_tables(tables, promote_options="default")

    def _sorted(self, paths: list[Path]) -> pa.Table:
        table = _concat(paths)
        if self.sort_by:
            table = table.sort_by([(key, "ascending") for key in self.sort_by])
        return table

    def by_month(self) -> Iterator[tuple[str, pd.DataFrame]]:
        for partition in self.partitions():
            yield partition, self.read(partition)


def _concat(paths: list[Path]) -> pa.Table:
    tables = []
    for path in paths:
        with pa.memory_map(str(path)) as source:
            tables.append(pa.ipc.open_file(source).read_all())
    # A column that is empty in one part (no business contacts that day…) is typed null.
    return pa.concat_tables(tables, promote_options="default")


def read_rows(paths: list[Path], start: int, stop: int) -> pd.DataFrame:
    """Rows start:stop of the parts in `paths` taken one after the other (memory-mapped: the
    other rows are never read)."""
    return _concat(paths).slice(start, stop - start).to_pandas()


class Tables(Mapping[str, pd.DataFrame]):
    """Tables by name, each read when asked for (spilled) or held (small ones)."""

    def __init__(self, tables: dict[str, SpilledTable | pd.DataFrame]) -> None:
        self._tables = tables

    def __getitem__(self, name: str) -> pd.DataFrame:
        table = self._tables[name]
        return table.read() if isinstance(table, SpilledTable) else table

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def empty(self, name: str) -> pd.DataFrame:
        """Table `name` without rows: its columns and types."""
        table = self._tables[name]
        return table.empty() if isinstance(table, SpilledTable) else table.iloc[:0]

    def rows(self, name: str) -> int:
        """A table's row count, without reading it."""
        return len(self._tables[name])

    def to_parquet(self, name: str, path: Path) -> None:
        """Write table `name` as Parquet, a spilled one straight from Arrow: as a DataFrame,
        a table of millions of rows takes gigabytes on the way."""
        table = self._tables[name]
        if not isinstance(table, SpilledTable):
            table.to_parquet(path, index=False)
            return
        rows = table.arrow()
        if rows is None:
            rows = pa.Table.from_pandas(table.empty(), preserve_index=False)
        pq.write_table(rows, path)

    def by_month(self, name: str, column: str) -> Iterator[tuple[str, pd.DataFrame]]:
        """(YYYY-MM, that month's rows of table `name` by `column`) in month order."""
        table = self._tables[name]
        if isinstance(table, SpilledTable) and table.month == column:
            yield from table.by_month()
            return
        frame = self[name]
        months = months_of(frame[column])
        for month in sorted(set(months)):
            yield month, frame[months == month]
