"""Tabular file drops (CSV, Parquet) read one file at a time, in bounded typed chunks.

`read_table_file` turns one file into chunks for the warehouse loader (drops.py); `load_table`
gathers every file of a folder in memory, for tests and small tools. A file that cannot be
read or lacks a required column is rejected whole (`FileRejected`, naming file, line and
problem); inside a readable file each bad row becomes a problem with its line, field and
reason, and the good rows load. Column names match the declared ones without regard to case;
columns whose names start with `_` are reserved for lineage and are not loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flywheel_pipeline.sources.files.csv_records import BLOCK_BYTES, CsvReader
from flywheel_pipeline.sources.files.parsed import (
    FileRejected,
    ParsedChunk,
    RowProblem,
    guard_parsing,
)
from flywheel_pipeline.sources.files.schemas import QUARANTINE_COLUMNS, FileTable
from flywheel_pipeline.sources.files.values import type_rows, typing_connection

PARQUET_BATCH_ROWS = 100_000


@dataclass
class FileLoad:
    """What loading one table's files produced."""

    rows: pd.DataFrame
    quarantine: pd.DataFrame
    files_loaded: list[str] = field(default_factory=list)
    files_rejected: dict[str, str] = field(default_factory=dict)


def list_files(landing_dir: Path, folder: str, patterns: tuple[str, ...]) -> list[Path]:
    root = landing_dir / folder
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


def quarantine_frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=QUARANTINE_COLUMNS[:-1]).astype(
        {"line": "Int64"}, errors="ignore"
    )


def read_table_file(
    table: FileTable, path: Path, file: str, *, block_bytes: int = BLOCK_BYTES
) -> Iterator[ParsedChunk]:
    """Typed chunks of one file; raises FileRejected when the file is unusable as a whole."""
    if path.suffix == ".parquet":
        chunks = _parquet_chunks(table, path, file)
    else:
        chunks = _csv_chunks(table, path, file, block_bytes)
    with typing_connection() as conn:
        for raw, lines, problems in chunks:
            typed, bad = type_rows(conn, table, raw, file, lines)
            found = sorted([*problems, *bad], key=lambda p: p.line)
            yield ParsedChunk({table.relation: typed}, found)


Chunk = tuple[pa.Table, np.ndarray, list[RowProblem]]


def _csv_chunks(table: FileTable, path: Path, file: str, block_bytes: int) -> Iterator[Chunk]:
    with path.open("rb") as stream:
        reader = CsvReader(stream, file, block_bytes)
        columns = _match_columns(table, reader.header, f"{file}, line 1", reader.delimiter_hint())
        for chunk in reader.chunks():
            yield _select(chunk.rows, columns), chunk.lines, chunk.problems


def _parquet_chunks(table: FileTable, path: Path, file: str) -> Iterator[Chunk]:
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise FileRejected(
            f"{file}: unreadable Parquet file ({type(exc).__name__}: {exc})"
        ) from None
    columns = _match_columns(table, parquet.schema_arrow.names, f"{file}, Parquet schema")
    first_row = 1  # Parquet has no lines: `_line` is the 1-based row number
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        lines = np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)
        first_row += batch.num_rows
        yield _select(pa.Table.from_batches([batch]), columns), lines, []


def _match_columns(
    table: FileTable, names: list[str], where: str, hint: str = ""
) -> dict[str, str]:
    """File column -> raw column for the columns to load; rejects a file that cannot load."""
    declared = {c.name.lower(): c.name for c in table.columns}
    seen: set[str] = set()
    columns: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key in seen:
            raise FileRejected(f"{where}: duplicate column {name!r} (case is ignored)")
        seen.add(key)
        if not key.startswith("_"):
            columns[name] = declared.get(key, name.strip())
    missing = [c for c in table.required_columns if c not in columns.values()]
    if missing:
        raise FileRejected(f"{where}: missing required column(s) {', '.join(missing)}{hint}")
    return columns


def _select(rows: pa.Table, columns: dict[str, str]) -> pa.Table:
    return rows.select(list(columns)).rename_columns(list(columns.values()))


def load_table(table: FileTable, landing_dir: Path, loaded_at: datetime) -> FileLoad:
    """Every file of the table's folder, in memory (the assets stream through drops.py)."""
    frames: list[pd.DataFrame] = []
    bad: list[dict] = []
    result = FileLoad(rows=pd.DataFrame(), quarantine=pd.DataFrame())
    for path in list_files(landing_dir, table.folder, table.patterns):
        name = path.relative_to(landing_dir).as_posix()
        try:
            chunks = list(guard_parsing(read_table_file(table, path, name), name))
        except FileRejected as exc:
            result.files_rejected[name] = str(exc)
            continue
        for chunk in chunks:
            frames.append(to_pandas(chunk.frames[table.relation]))
            bad.extend(p.quarantine_row(table.name, name) for p in chunk.problems)
        result.files_loaded.append(name)
    result.rows = _combine(table, frames)
    result.quarantine = quarantine_frame(bad)
    result.rows["_loaded_at"] = pd.Timestamp(loaded_at)
    result.quarantine["_loaded_at"] = pd.Timestamp(loaded_at)
    return result


def to_pandas(rows: pa.Table | pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas types, as the loaders produced before they streamed through Arrow."""
    if isinstance(rows, pd.DataFrame):
        return rows
    nullable = {
        pa.int64(): pd.Int64Dtype(),
        pa.int32(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    frame = rows.to_pandas(types_mapper=nullable.get)
    if "_line" in frame:  # never null
        frame["_line"] = frame["_line"].astype("int64")
    for name, column in frame.items():  # pandas 2 keeps Arrow's microseconds
        if pd.api.types.is_datetime64_dtype(column):
            frame[name] = column.astype("datetime64[ns]")
    return frame


def _combine(table: FileTable, frames: list[pd.DataFrame]) -> pd.DataFrame:
    declared = [c.name for c in table.columns]
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty(table)
    combined = pd.concat(frames, ignore_index=True)
    extras = [c for c in combined.columns if c not in declared and not c.startswith("_")]
    return combined[[*declared, *extras, "_source_file", "_line"]]


_EMPTY_DTYPES = {
    "text": "object",
    "timestamp": "datetime64[ns]",
    "date": "datetime64[ns]",
    "float": "float64",
    "int": "Int64",
    "bool": "boolean",
}


def _empty(table: FileTable) -> pd.DataFrame:
    columns = {c.name: pd.Series(dtype=_EMPTY_DTYPES[c.kind]) for c in table.columns}
    columns["_source_file"] = pd.Series(dtype="object")
    columns["_line"] = pd.Series(dtype="int64")
    return pd.DataFrame(columns)
