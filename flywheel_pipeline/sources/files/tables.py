"""Tabular file drops (CSV, Parquet) read one file at a time, in bounded typed chunks.

`read_table_file` turns one file into chunks for the warehouse loader (drops.py); `load_table`
gathers every file of a folder in memory, for tests and small tools. A file that cannot be
read or lacks a required column is rejected whole (`FileRejected`, naming file, line and
problem); inside a readable file each bad row becomes a problem with its line, field and
reason, and the good rows load. Column names match the declared ones without regard to case;
columns whose names start with `_` are reserved for lineage and are not loaded.

A file is read under its folder's mapping (mapping.py: column names, a tool's preset, time
zone, delimiter, encoding), reshaped by the export's rules (exports.py) and then typed
(values.py), timestamps without an offset in the mapping's zone or else `timezone`
(FLYWHEEL_TIMEZONE).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flywheel_pipeline.sources.files.csv_records import (
    BLOCK_BYTES,
    UTF16_BOMS,
    CsvReader,
    Transcoded,
)
from flywheel_pipeline.sources.files.exports import LineItems, deal_outcomes
from flywheel_pipeline.sources.files.mapping import (
    UTF8,
    FilePlan,
    FolderMapping,
    read_folder_mapping,
)
from flywheel_pipeline.sources.files.parsed import (
    FileRejected,
    ParsedChunk,
    RowProblem,
    guard_parsing,
)
from flywheel_pipeline.sources.files.schemas import QUARANTINE_COLUMNS, FileTable
from flywheel_pipeline.sources.files.values import TimeRules, type_rows, typing_connection

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
    table: FileTable,
    path: Path,
    file: str,
    *,
    block_bytes: int = BLOCK_BYTES,
    timezone: str | None = None,
    mapping: FolderMapping | None = None,
) -> Iterator[ParsedChunk]:
    """Typed chunks of one file; raises FileRejected when the file is unusable as a whole.

    `mapping`: its folder's (read from the file's folder when not given); `timezone`: the
    zone of timestamps without an offset unless the mapping states one.
    """
    if mapping is None:
        mapping = read_folder_mapping(path.parent, table)
    if mapping.error is not None:
        raise FileRejected(f"{file}: not read: {mapping.error}")
    with ExitStack() as stack:
        if path.suffix == ".parquet":
            parquet = _open_parquet(path, file)
            plan = mapping.plan(parquet.schema_arrow.names, f"{file}, Parquet schema")
            chunks = _parquet_chunks(parquet)
        else:
            reader = _open_csv(stack, path, file, block_bytes, mapping)
            plan = mapping.plan(reader.header, f"{file}, line 1", reader.delimiter_hint())
            chunks = _csv_chunks(reader)
        times = _time_rules(plan, mapping, timezone)
        items = LineItems(plan) if plan.rules.fold_line_items else None
        with typing_connection() as conn:
            for raw, lines, problems in chunks:
                rows = deal_outcomes(_select(raw, plan.columns), plan)
                if items is not None:
                    rows, lines = items.fold(rows, lines)
                typed, bad = type_rows(conn, table, rows, file, lines, times)
                found = sorted([*problems, *bad], key=lambda p: p.line)
                yield ParsedChunk({table.relation: typed}, found)
            last = items.rest() if items is not None else None
            if last is not None:  # the file's last order
                rows, lines = last
                typed, bad = type_rows(conn, table, rows, file, lines, times)
                yield ParsedChunk({table.relation: typed}, bad)


Chunk = tuple[pa.Table, np.ndarray, list[RowProblem]]


def _open_csv(
    stack: ExitStack, path: Path, file: str, block_bytes: int, mapping: FolderMapping
) -> CsvReader:
    stream = stack.enter_context(path.open("rb"))
    encoding = mapping.encoding
    if encoding is None and stream.read(2) in UTF16_BOMS:
        encoding = "utf-16"  # Excel's "Unicode text"
    stream.seek(0)
    if encoding is not None and encoding not in UTF8:
        stream = Transcoded(stream, encoding, file, mapping.advice)
    return CsvReader(stream, file, block_bytes, delimiter=mapping.delimiter, advice=mapping.advice)


def _csv_chunks(reader: CsvReader) -> Iterator[Chunk]:
    for chunk in reader.chunks():
        yield chunk.rows, chunk.lines, chunk.problems


def _open_parquet(path: Path, file: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except Exception as exc:
        raise FileRejected(
            f"{file}: unreadable Parquet file ({type(exc).__name__}: {exc})"
        ) from None


def _parquet_chunks(parquet: pq.ParquetFile) -> Iterator[Chunk]:
    first_row = 1  # Parquet has no lines: `_line` is the 1-based row number
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        lines = np.arange(first_row, first_row + batch.num_rows, dtype=np.int64)
        first_row += batch.num_rows
        yield pa.Table.from_batches([batch]), lines, []


def _time_rules(plan: FilePlan, mapping: FolderMapping, timezone: str | None) -> TimeRules:
    fix = "set FLYWHEEL_TIMEZONE"
    if mapping.table.mappable:
        fix += f" or `timezone:` in {mapping.file}"
    zone = plan.rules.timezone or timezone
    return TimeRules(zone, plan.rules.datetime_format, fix)


def _select(rows: pa.Table, columns: dict[str, str]) -> pa.Table:
    return rows.select(list(columns)).rename_columns(list(columns.values()))


def load_table(
    table: FileTable, landing_dir: Path, loaded_at: datetime, *, timezone: str | None = None
) -> FileLoad:
    """Every file of the table's folder, in memory (the assets stream through drops.py)."""
    frames: list[pd.DataFrame] = []
    bad: list[dict] = []
    result = FileLoad(rows=pd.DataFrame(), quarantine=pd.DataFrame())
    for path in list_files(landing_dir, table.folder, table.patterns):
        name = path.relative_to(landing_dir).as_posix()
        try:
            parsed = read_table_file(table, path, name, timezone=timezone)
            chunks = list(guard_parsing(parsed, name))
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
