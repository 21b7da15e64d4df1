"""Load tabular file drops (CSV, Parquet) into typed frames, row problems into quarantine.

A file that cannot be read, or lacks a required column, is rejected whole with a reason that
names the file; every other file still loads. Inside a readable file, each row that breaks a
rule goes to quarantine with its line, field and reason, and the good rows load.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.files.schemas import QUARANTINE_COLUMNS, Column, FileTable

_HAS_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


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


def load_table(table: FileTable, landing_dir: Path, loaded_at: datetime) -> FileLoad:
    frames: list[pd.DataFrame] = []
    bad: list[dict] = []
    result = FileLoad(rows=pd.DataFrame(), quarantine=pd.DataFrame())
    for path in list_files(landing_dir, table.folder, table.patterns):
        name = path.relative_to(landing_dir).as_posix()
        try:
            raw, first_line = _read(path)
        except Exception as exc:  # any unreadable content rejects the file, not the run
            result.files_rejected[name] = f"{name}: unreadable ({type(exc).__name__}: {exc})"
            continue
        missing = [c for c in table.required_columns if c not in raw.columns]
        if missing:
            result.files_rejected[name] = (
                f"{name}, line 1: missing required column(s) {', '.join(missing)}"
            )
            continue
        good, problems = _type_rows(table, raw, name, first_line)
        frames.append(good)
        bad.extend(problems)
        result.files_loaded.append(name)
    result.rows = _combine(table, frames)
    result.quarantine = quarantine_frame(bad)
    result.rows["_loaded_at"] = pd.Timestamp(loaded_at)
    result.quarantine["_loaded_at"] = pd.Timestamp(loaded_at)
    return result


def _read(path: Path) -> tuple[pd.DataFrame, int]:
    """Return the file's rows as found and the line number of its first data row."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path), 1
    frame = pd.read_csv(
        path, dtype=str, keep_default_na=False, encoding="utf-8", on_bad_lines="error"
    )
    return frame, 2


def _type_rows(
    table: FileTable, raw: pd.DataFrame, file: str, first_line: int
) -> tuple[pd.DataFrame, list[dict]]:
    lines = pd.Series(np.arange(first_line, first_line + len(raw)), index=raw.index)
    typed = pd.DataFrame(index=raw.index)
    reason = pd.Series(pd.NA, index=raw.index, dtype="object")
    for column in table.columns:
        source = raw[column.name] if column.name in raw.columns else None
        values, problem = _parse(column, source, raw.index)
        typed[column.name] = values
        reason = reason.fillna(problem)
    for extra in (c for c in raw.columns if c not in typed.columns):
        typed[extra] = _text(raw[extra])
    typed["_source_file"] = file
    typed["_line"] = lines.astype("int64")

    failed = reason.notna()
    problems = [
        {
            "source": table.name,
            "file": file,
            "line": int(lines[i]),
            "field": reason[i].split(":", 1)[0],
            "reason": reason[i],
            "record": json.dumps(raw.loc[i].astype(str).to_dict(), ensure_ascii=False),
        }
        for i in raw.index[failed]
    ]
    return typed[~failed], problems


def _parse(
    column: Column, source: pd.Series | None, index: pd.Index
) -> tuple[pd.Series, pd.Series]:
    """Typed values and, per row, the reason the value breaks a rule (or NA)."""
    problem = pd.Series(pd.NA, index=index, dtype="object")
    if source is None:
        return pd.Series(pd.NA, index=index, dtype="object"), problem
    text = _text(source) if source.dtype == object else source
    present = text.notna()

    values: pd.Series
    if column.kind == "text":
        values = text
    elif column.kind == "timestamp":
        values, unparsed = _timestamps(text)
        problem[unparsed] = f"{column.name}: unparseable or timezone-less timestamp"
    elif column.kind == "date":
        values = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        problem[present & values.isna()] = f"{column.name}: unparseable date (want YYYY-MM-DD)"
        values = values.dt.date
    elif column.kind in ("float", "int"):
        values = pd.to_numeric(text, errors="coerce")
        problem[present & values.isna()] = f"{column.name}: not a number"
        if column.kind == "int":
            fractional = values.notna() & (values % 1 != 0)
            problem[fractional] = f"{column.name}: not a whole number"
            values = values.where(~fractional).astype("Int64")
    else:
        lowered = text.str.lower() if text.dtype == object else text.astype("string").str.lower()
        values = lowered.map(lambda v: True if v in _TRUE else False if v in _FALSE else pd.NA)
        problem[present & values.isna()] = f"{column.name}: not a boolean (want true/false)"
        values = values.astype("boolean")

    if not column.nullable:
        problem[~present & problem.isna()] = f"{column.name}: required value is empty"
    if column.non_negative:
        problem[(values < 0).fillna(False).astype(bool)] = f"{column.name}: negative value"
    if column.value_range is not None:
        low, high = column.value_range
        outside = ((values < low) | (values > high)).fillna(False).astype(bool)
        problem[outside] = f"{column.name}: outside {low:g}–{high:g}"
    if column.allowed is not None:
        unknown = present & ~text.isin(column.allowed)
        problem[unknown] = f"{column.name}: not one of {', '.join(sorted(column.allowed))}"
    return values, problem


def _text(series: pd.Series) -> pd.Series:
    as_text = series.astype("string").str.strip()
    return as_text.where(as_text != "", pd.NA).astype("object")


def _timestamps(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """UTC, naive timestamps; strings must carry an offset, typed Parquet values are kept."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
        return parsed.dt.tz_localize(None), pd.Series(False, index=values.index)
    present = values.notna()
    has_offset = values.astype("string").str.contains(_HAS_OFFSET).fillna(False).astype(bool)
    parsed = pd.to_datetime(values.where(has_offset), utc=True, format="ISO8601", errors="coerce")
    unparsed = present & parsed.isna()
    return parsed.dt.tz_localize(None), unparsed


def _combine(table: FileTable, frames: list[pd.DataFrame]) -> pd.DataFrame:
    declared = [c.name for c in table.columns]
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
