"""Type the rows of a file by the rules in schemas.py, and say why each bad row is bad.

The rules become one SQL SELECT that DuckDB runs over each chunk (an Arrow table, as read):
one typed expression per column and a `_reason` that names the first column, in declared
order, whose value breaks a rule ("revenue: negative value"). Vectorised, this makes typing
a small part of loading a 1 GB file; pandas' per-value parsing (mixed UTC offsets above all)
took several minutes. The connection is in-memory and only ever sees the rows it types.

Text is trimmed and an empty value is null. Timestamps are stored as naive UTC. Text ones are
ISO 8601 with an offset (`Z`, `+02:00`, ` +0200`), or without one (`2026-03-14 18:19`, a date
alone is midnight; or in one of the `TimeRules.formats`, such as `%m/%d/%Y %I:%M %p`) when a
zone is configured (`TimeRules.zone`): never read as UTC by default, they are quarantined
without a zone, the reason saying how to configure one. Typed Parquet timestamps are kept
(naive ones are taken as UTC). Numbers are plain decimals (`1234.5`, `1e3`); `=1+1` or `1,234`
is not a number.
"""

from __future__ import annotations

import atexit
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel_pipeline.sources.files.parsed import RowProblem
from flywheel_pipeline.sources.files.schemas import SQL_TYPES, Column, FileTable
from flywheel_pipeline.sql import identifier, literal

TRUE = ("true", "t", "1", "yes", "y")
FALSE = ("false", "f", "0", "no", "n")
# An ISO 8601 timestamp must end in an offset: without one the instant is unknown.
HAS_OFFSET = r"(?:[Zz]|[+-]\d{2}:?\d{2})$"
# `2026-03-14 18:19:00 +0200` (Shopify): DuckDB reads the offset when no space precedes it.
SPACED_OFFSET = r"\s+([+-]\d{2}:?\d{2})$"


@dataclass(frozen=True)
class TimeRules:
    """How text timestamps without an offset are read: as local times in `zone` (IANA), in
    ISO 8601 or one of `formats` (strptime, e.g. `%m/%d/%Y %I:%M %p`; also tried for dates).
    Without a zone such values are quarantined, the reason ending in `fix`."""

    zone: str | None = None
    formats: tuple[str, ...] = ()
    fix: str = "set FLYWHEEL_TIMEZONE"


NO_ZONE = TimeRules()


@contextmanager
def typing_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on an in-memory DuckDB for `type_rows`, in UTC; it only ever sees the rows it
    types. The database is made once per process (that costs tens of milliseconds)."""
    cursor = _typing_database().cursor()
    try:
        cursor.execute("set TimeZone = 'UTC'")
        yield cursor
    finally:
        cursor.close()


@cache
def _typing_database() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    atexit.register(conn.close)
    return conn


def type_rows(
    conn: duckdb.DuckDBPyConnection,
    table: FileTable,
    raw: pa.Table,
    file: str,
    lines: np.ndarray,
    times: TimeRules = NO_ZONE,
) -> tuple[pa.Table, list[RowProblem]]:
    """Typed good rows with lineage (`_source_file`, `_line`), and a problem per bad row.

    `raw` holds the file's columns as found (text for CSV, typed for Parquet), already named
    as the raw table's; `lines` the line (or row) number of each row. Extra columns are kept
    as text. `conn` comes from `typing_connection()`.
    """
    source = _trimmed(raw).append_column("_line", pa.array(lines, type=pa.int64()))
    conn.register("_rows", source)
    try:
        typed = conn.sql(_typing_sql(table, raw.schema, times), params=[file]).to_arrow_table()
    finally:
        conn.unregister("_rows")
    bad = pc.is_valid(typed["_reason"])
    problems = []
    if pc.any(bad).as_py():
        where = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
        reasons = typed["_reason"].take(where).to_pylist()
        records = raw.take(where).to_pylist()
        for index, reason, record in zip(where, reasons, records, strict=True):
            field_name, problem = reason.split(": ", 1)
            text = json.dumps(record, ensure_ascii=False, default=str)
            problems.append(RowProblem(int(lines[index]), field_name, problem, text))
    good = typed.filter(pc.invert(bad)).drop_columns(["_reason"])
    return good, problems


def _typing_sql(table: FileTable, schema: pa.Schema, times: TimeRules) -> str:
    """One SELECT in layers, so that no expression is written (and computed) twice: the text
    of every column (`t<i>`), then numbers (`n<i>`), then typed values (`v<i>`), then the
    reason a row is bad."""
    present = {name: schema.field(name).type for name in schema.names if name != "_line"}
    texts, numbers, values, outputs, reasons = [], [], [], [], []
    for i, column in enumerate(table.columns):
        rules = _rules(column, present.get(column.name), f"t{i}", f"n{i}", f"v{i}", times)
        if column.name in present:
            texts.append(f"{rules.text} as t{i}")
        if rules.number:
            numbers.append(f"{rules.number} as n{i}")
        values.append(f"{rules.value} as v{i}")
        outputs.append(f"v{i} as {identifier(column.name)}")
        if rules.reason:
            reasons.append(rules.reason)
    declared = {c.name for c in table.columns}
    for j, name in enumerate(n for n in present if n not in declared):
        texts.append(f"{_text(identifier(name))} as e{j}")
        outputs.append(f"e{j} as {identifier(name)}")
    reason = f"coalesce({', '.join(reasons)})" if reasons else "null"
    outputs += ["?::varchar as _source_file", "_line", f"{reason}::varchar as _reason"]
    return (
        f"select {', '.join(outputs)} from ("
        f"select *, {', '.join(values)} from ("
        f"select *{''.join(', ' + n for n in numbers)} from ("
        f"select {', '.join([*texts, '_line'])} from _rows)))"
    )


def _trimmed(raw: pa.Table) -> pa.Table:
    """Text columns without surrounding whitespace (Arrow trims faster than DuckDB)."""
    columns = [
        pc.utf8_trim_whitespace(column) if pa.types.is_string(column.type) else column
        for column in raw.columns
    ]
    return pa.table(columns, names=raw.column_names)


def _text(sql: str) -> str:
    """A column as text, null when empty (text columns come trimmed)."""
    return f"nullif(cast({sql} as varchar), '')"


@dataclass(frozen=True)
class _Rules:
    text: str  # the column as found, made text (or kept typed)
    number: str | None  # a helper parsed once for value and reason
    value: str  # the typed value
    reason: str | None  # why the value breaks a rule, or null


def _rules(
    column: Column, arrow_type: pa.DataType | None, t: str, n: str, v: str, times: TimeRules
) -> _Rules:
    """SQL for one declared column, over the names of its text (`t`), number and value."""
    if arrow_type is None:  # an optional column the file does not have
        return _Rules("", None, f"cast(null as {SQL_TYPES[column.kind]})", None)
    source = identifier(column.name)
    text, number = _text(source), None
    checks: list[tuple[str, str]] = []  # (condition on a present value, problem)

    if column.kind == "timestamp" and pa.types.is_timestamp(arrow_type):
        text, value = source, f"cast({t} as timestamp)"
        if arrow_type.tz is not None:  # to UTC (the session's zone), then naive
            value = f"cast(cast({t} as timestamptz) as timestamp)"
    elif column.kind == "timestamp":
        iso = f"regexp_replace(regexp_replace({t}, 'z$', 'Z'), {literal(SPACED_OFFSET)}, '\\1')"
        instant = f"try_cast({iso} as timestamptz)"
        offset = f"regexp_matches({t}, {literal(HAS_OFFSET)})"
        local = f"try_cast({t} as timestamp)"  # no offset: a local time
        if times.formats:
            local = f"coalesce(try_strptime({t}, {_formats(times)}), {local})"
        if times.zone is None:
            value = f"cast(case when {offset} then {instant} end as timestamp)"
            # a local time (and the only one this evaluates for): say how to read it
            local_only = f"{v} is null and not {offset} and {local} is not null"
            checks.append((local_only, f"timezone-less timestamp; {times.fix}"))
            checks.append((f"{v} is null", "unparseable or timezone-less timestamp"))
        else:
            number = local
            in_zone = f"timezone({literal(times.zone)}, {n})"
            value = f"cast(case when {offset} then {instant} else {in_zone} end as timestamp)"
            checks.append((f"{v} is null", "unparseable timestamp"))
    elif column.kind == "date":
        value = f"cast(try_strptime({t}, '%Y-%m-%d') as date)"
        if times.formats:
            value = f"cast(coalesce(try_strptime({t}, '%Y-%m-%d'), {_dates(t, times)}) as date)"
        checks.append((f"{v} is null", "unparseable date (want YYYY-MM-DD)"))
    elif column.kind == "float":
        number = f"try_cast({t} as double)"
        value = f"case when not isnan({n}) then {n} end"
        checks.append((f"{v} is null", "not a number"))
    elif column.kind == "int":
        number = f"try_cast({t} as double)"
        exact = f"coalesce(try_cast({t} as bigint), try_cast({n} as bigint))"
        value = f"case when {n} = trunc({n}) then {exact} end"
        checks.append((f"{n} is null or isnan({n})", "not a number"))
        checks.append((f"{n} <> trunc({n})", "not a whole number"))
        checks.append((f"{v} is null", "not a number"))  # beyond BIGINT
    elif column.kind == "bool":
        truthy = ", ".join(map(literal, TRUE))
        falsy = ", ".join(map(literal, FALSE))
        value = (
            f"case when lower({t}) in ({truthy}) then true "
            f"when lower({t}) in ({falsy}) then false end"
        )
        checks.append((f"{v} is null", "not a boolean (want true/false)"))
    else:
        value = t

    conditions = [(f"{t} is not null and ({test})", problem) for test, problem in checks]
    if not column.nullable:
        conditions.append((f"{t} is null", "required value is empty"))
    if column.non_negative:
        conditions.append((f"{v} < 0", "negative value"))
    if column.value_range is not None:
        low, high = column.value_range
        conditions.append((f"{v} < {low} or {v} > {high}", f"outside {low:g}–{high:g}"))
    if column.allowed is not None:
        allowed = ", ".join(map(literal, sorted(column.allowed)))
        problem = f"not one of {', '.join(sorted(column.allowed))}"
        conditions.append((f"{t} not in ({allowed})", problem))
    name = column.name
    whens = " ".join(f"when {test} then {literal(f'{name}: {p}')}" for test, p in conditions)
    return _Rules(text, number, value, f"case {whens} end" if conditions else None)


def _formats(times: TimeRules) -> str:
    return f"[{', '.join(map(literal, times.formats))}]"


def _dates(t: str, times: TimeRules) -> str:
    return f"try_strptime({t}, {_formats(times)})"
