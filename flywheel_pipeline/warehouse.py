"""The DuckDB warehouse: the resource every writing asset uses, and atomic table writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from flywheel_pipeline.sql import identifier, literal

# Every asset that writes the warehouse runs in this Dagster concurrency pool. dagster.yaml
# limits it to one step at a time because DuckDB allows a single writer process.
WAREHOUSE_POOL = "warehouse"

# Whatever the file's name (an older default was flywheel.duckdb, like the schema `flywheel`),
# attaching it under this alias keeps two-part names (`schema.table`) unambiguous.
CATALOG = "warehouse"

# DuckDB's memory during bulk loads (past it DuckDB spills to disk): enough for one page or
# file block in flight plus a useful buffer cache, small enough that loads stay flat.
BULK_LOAD_MEMORY_LIMIT = "128MB"
# DuckDB's memory while a model or the recommendations read their inputs (staging views
# computed, orders aggregated) and write their outputs: past it DuckDB spills to disk rather
# than cache up to 80 % of RAM beside the frames in pandas.
MODEL_MEMORY_LIMIT = "512MB"
# What a join over the largest tables needs under its cap (at scale 1000: every order to the
# identity spine; 6.2 M conversations to their topics and their contacts' orders).
JOIN_MEMORY_LIMIT = "1GB"


@contextmanager
def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    config: Mapping[str, object] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the warehouse file attached as CATALOG and in use. `config`:
    DuckDB settings for the connection (threads, memory_limit…)."""
    conn = duckdb.connect(config=dict(config or {}))
    try:
        # DuckDB draws a progress bar for queries over two seconds into the run's output.
        conn.execute("set enable_progress_bar = false")
        mode = " (read_only)" if read_only else ""
        conn.execute(f"attach {literal(path)} as {CATALOG}{mode}")
        conn.execute(f"use {CATALOG}")
        yield conn
    finally:
        conn.close()


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse file; assets that use it belong in WAREHOUSE_POOL.

    dagster-duckdb's resource (so the UI and launchpad show it as one, `database` and
    `connection_config` as its config), with Flywheel's connection: the file is ATTACHed as
    CATALOG (`warehouse`) rather than opened directly, so a file named like a schema (the
    legacy `flywheel.duckdb`) leaves `flywheel.momentum` unambiguous. Constructed as
    `WarehouseResource(path=...)` or `WarehouseResource(database=...)`.
    """

    def __init__(self, path: str | None = None, **config: Any) -> None:
        if path is not None:
            config["database"] = str(path)
        super().__init__(**config)

    @property
    def path(self) -> str:
        """The warehouse file (DuckDBResource's `database`)."""
        return self.database

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with connect(self.path, config=self.connection_config) as conn:
            yield conn


def fetch_row(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()
) -> tuple[Any, ...] | None:
    """The first row of `sql` (None when there is none), with the result read to its end:
    DuckDB 2 refuses other work on a connection (register, sql) while a result is half-read,
    which is what fetchone() leaves behind."""
    rows = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None


def fetch_value(conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> Any:
    """The single value of a one-row query such as `select count(*) …`."""
    row = fetch_row(conn, sql, params)
    return row[0] if row else None


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit what the block did, or roll all of it back."""
    conn.execute("begin transaction")
    try:
        yield
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise


@contextmanager
def _registered(conn: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> Iterator[str]:
    """`frame` queryable as `name` for the duration of the block."""
    conn.register(name, frame)
    try:
        yield name
    finally:
        conn.unregister(name)


def _replace_with(
    conn: duckdb.DuckDBPyConnection, relation: str, query: str, params: Sequence[object] = ()
) -> int:
    """Replace `schema.table` with the rows of `query` in one transaction; readers never see
    half a table. Returns the number of rows."""
    schema, _ = relation.split(".")
    conn.execute(f"create schema if not exists {schema}")
    with transaction(conn):
        conn.execute(f"create or replace table {relation} as {query}", params)
        return fetch_value(conn, f"select count(*) from {relation}")


def replace_table(conn: duckdb.DuckDBPyConnection, relation: str, frame: pd.DataFrame) -> int:
    """Replace `schema.table` with `frame`."""
    with _registered(conn, "_incoming", frame):
        return _replace_with(conn, relation, "select * from _incoming")


def replace_table_from_parquet(
    conn: duckdb.DuckDBPyConnection, relation: str, path: Path | str
) -> int:
    """Replace `schema.table` with the rows of a Parquet file, read by DuckDB itself: a table
    of millions of rows never passes through pandas."""
    return _replace_with(conn, relation, "select * from read_parquet(?)", [str(path)])


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    frame: pd.DataFrame,
    *,
    key_column: str,
    keys: Sequence[str],
) -> None:
    """Delete the rows whose `key_column` is in `keys`, then append `frame`, atomically.

    Used for tables several assets share (e.g. raw.quarantine, one slice per source) and for
    tables that keep history (ml.<model>_runs, one slice per run). A column the frame brings
    and the table lacks is added (null in the older rows).
    """
    schema, _ = relation.split(".")
    conn.execute(f"create schema if not exists {schema}")
    with _registered(conn, "_incoming", frame), transaction(conn):
        conn.execute(
            f"create table if not exists {relation} as select * from _incoming where false"
        )
        incoming = conn.execute("select column_name, column_type from (describe _incoming)")
        add_missing_columns(conn, relation, dict(incoming.fetchall()))
        conn.execute(f"delete from {relation} where {key_column} in (select unnest(?))", [keys])
        conn.execute(f"insert into {relation} by name select * from _incoming")


def read_relation(conn: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame:
    return conn.execute(f"select * from {relation}").df()


def relation_exists(conn: duckdb.DuckDBPyConnection, relation: str) -> bool:
    """Whether `schema.table` (a table or a view) is in the warehouse."""
    schema, table = relation.split(".")
    count = fetch_value(
        conn,
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = ? and table_name = ?",
        [schema, table],
    )
    return count > 0


def read_relation_if_exists(conn: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame | None:
    """`schema.table` as a frame, or None when an upstream asset has not written it yet."""
    return read_relation(conn, relation) if relation_exists(conn, relation) else None


class StreamingTableWriter:
    """Replace `schema.table` (or one slice of it) with frames appended one at a time,
    atomically.

    Use as a context manager. Entering creates a staging table `schema.<table>__incoming`
    (from `columns`, or from the first frame's shape); every `append` adds one frame and
    commits it to the staging table, so only one frame is ever held in memory (a single open
    transaction would not do: DuckDB keeps uncommitted appends in memory, and memory would grow
    with the row count). Leaving the block swaps the staging table in with one transaction
    (drop the old table, rename the staging one): readers see the old table or the new one,
    never half of either. An exception inside the block drops the staging table and leaves the
    previous table untouched. A staging table left by a crashed process is dropped on the next
    write (writers are serialised by WAREHOUSE_POOL).

    With `replace_where` (a SQL predicate over the table's columns, `?` placeholders bound to
    `params`), only the matching rows are replaced: leaving the block deletes them and inserts
    the staged rows in one transaction, so one partition is rewritten while the rest of the
    table stays as it is. The caller must make sure the staged rows match the predicate.
    """

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        relation: str,
        columns: Mapping[str, str] | None = None,
        *,
        replace_where: str | None = None,
        params: Sequence[object] = (),
    ) -> None:
        schema, table = relation.split(".")
        self.conn = conn
        self.relation = relation
        self.schema = schema
        self.table = table
        self.staging = f"{schema}.{table}__incoming"
        self.columns = dict(columns) if columns else None
        self.replace_where = replace_where
        self.params = list(params)
        self.rows = 0
        self.frames = 0
        self._created = False
        self._open = False

    def __enter__(self) -> StreamingTableWriter:
        self.conn.execute(f"create schema if not exists {self.schema}")
        self.conn.execute(f"drop table if exists {self.staging}")
        if self.columns is not None:
            ddl = ", ".join(
                f"{identifier(name)} {sql_type}" for name, sql_type in self.columns.items()
            )
            self.conn.execute(f"create table {self.staging} ({ddl})")
            self._created = True
        self._open = True
        return self

    def append(self, frame: pd.DataFrame) -> int:
        if not self._open:
            raise RuntimeError("StreamingTableWriter.append outside its `with` block")
        with _registered(self.conn, "_incoming_frame", frame):
            if not self._created:
                self.conn.execute(
                    f"create table {self.staging} as select * from _incoming_frame where false"
                )
                self._created = True
            self.conn.execute(f"insert into {self.staging} by name select * from _incoming_frame")
        self.rows += len(frame)
        self.frames += 1
        return len(frame)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._open = False
        if exc_type is not None or not self._created:
            self.conn.execute(f"drop table if exists {self.staging}")
            if exc_type is None:
                raise ValueError(
                    f"{self.relation}: no frames and no column types; cannot create the table"
                )
            return
        try:
            with transaction(self.conn):
                if self.replace_where is None:
                    self.conn.execute(f"drop table if exists {self.relation}")
                    self.conn.execute(f"alter table {self.staging} rename to {self.table}")
                else:
                    self._replace_slice()
        finally:
            self.conn.execute(f"drop table if exists {self.staging}")

    def _replace_slice(self) -> None:
        self.conn.execute(
            f"create table if not exists {self.relation} as "
            f"select * from {self.staging} where false"
        )
        self.conn.execute(f"delete from {self.relation} where {self.replace_where}", self.params)
        self.conn.execute(f"insert into {self.relation} by name select * from {self.staging}")


def replace_table_streaming(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    frames: Iterable[pd.DataFrame],
    *,
    columns: Mapping[str, str] | None = None,
) -> int:
    """Replace `schema.table` with the concatenation of `frames`, consumed one at a time.

    All-or-nothing: if `frames` raises part-way (e.g. an API page fails), the previous table
    stays as it was. Memory holds one frame at a time. `columns` (name -> SQL type) fixes the
    table's types up front, so an empty extraction still creates a typed table and a page with
    an all-null column cannot change a column's type. Returns the number of rows written.
    """
    with StreamingTableWriter(conn, relation, columns) as writer:
        for frame in frames:
            writer.append(frame)
    return writer.rows


def replace_slice_streaming(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    frames: Iterable[pd.DataFrame],
    *,
    where: str,
    params: Sequence[object],
    columns: Mapping[str, str] | None = None,
) -> int:
    """Replace the rows of `schema.table` matching `where` with `frames`, atomically.

    Like `replace_table_streaming`, one frame in memory at a time and all-or-nothing; the
    table is created on first use. Used for partitions: `where="date between ? and ?"`.
    DuckDB is capped at BULK_LOAD_MEMORY_LIMIT meanwhile, so that its buffer cache (which
    would otherwise keep every written block) does not grow with the row count.
    """
    with (
        memory_limit(conn, BULK_LOAD_MEMORY_LIMIT),
        StreamingTableWriter(conn, relation, columns, replace_where=where, params=params) as w,
    ):
        for frame in frames:
            w.append(frame)
    return w.rows


class StagedAppend(StreamingTableWriter):
    """Rows for `schema.table` staged one frame at a time, published by the caller.

    The staging half of StreamingTableWriter (every frame committed to `<table>__incoming`, so
    memory holds one frame) without its swap: `publish` deletes the rows `replace_where`
    matches and appends the staged ones, adding any column the table lacks. It opens no
    transaction of its own, so that the caller can publish several tables and a bookkeeping row
    in one (see sources/files/drops.py). Leaving the block drops the staging table, whatever
    happened; a crashed process's staging table is dropped on the next write.
    """

    def __enter__(self) -> StagedAppend:
        # As StreamingTableWriter's, with column names quoted: these come from file headers.
        self.conn.execute(f"drop table if exists {self.staging}")
        if self.columns is not None:
            create_table_if_missing(self.conn, self.staging, self.columns)
            self._created = True
        self._open = True
        return self

    def publish(self, replace_where: str | None = None, params: Sequence[object] = ()) -> int:
        if replace_where is not None:
            self.conn.execute(f"delete from {self.relation} where {replace_where}", list(params))
        if not self._created:
            return 0
        staged = self.columns or table_columns(self.conn, self.staging)
        add_missing_columns(self.conn, self.relation, staged)
        self.conn.execute(f"insert into {self.relation} by name select * from {self.staging}")
        return self.rows

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._open = False
        self.conn.execute(f"drop table if exists {self.staging}")


def create_table_if_missing(
    conn: duckdb.DuckDBPyConnection, relation: str, columns: Mapping[str, str]
) -> None:
    schema, _ = relation.split(".")
    conn.execute(f"create schema if not exists {schema}")
    ddl = ", ".join(f"{identifier(name)} {sql}" for name, sql in columns.items())
    conn.execute(f"create table if not exists {relation} ({ddl})")


def catalog_columns(conn: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str, bool]]:
    """(name, SQL type, nullable) of each column of `schema.table` (a table or a view), in
    table order; empty when the relation does not exist."""
    schema, table = relation.split(".")
    return conn.execute(
        "select column_name, data_type, is_nullable from duckdb_columns() "
        "where database_name = current_database() and schema_name = ? and table_name = ? "
        "order by column_index",
        [schema, table],
    ).fetchall()


def table_columns(conn: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name -> SQL type of `schema.table` in the warehouse, in table order."""
    return {name: sql_type for name, sql_type, _ in catalog_columns(conn, relation)}


def add_missing_columns(
    conn: duckdb.DuckDBPyConnection, relation: str, columns: Mapping[str, str]
) -> list[str]:
    """Add to `relation` each of `columns` (name -> SQL type) it lacks; names match without
    regard to case, as DuckDB's do. Returns the names added."""
    existing = {name.lower() for name in table_columns(conn, relation)}
    added = [name for name in columns if name.lower() not in existing]
    for name in added:
        conn.execute(f"alter table {relation} add column {identifier(name)} {columns[name]}")
    return added


@contextmanager
def memory_limit(conn: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """Cap DuckDB's memory for the block (e.g. "256MB"); past it, DuckDB spills to
    `<warehouse file>.tmp` (removed when the connection closes) instead of caching up to 80 %
    of RAM, its default. For bulk loads whose memory must not grow with the data."""
    (path, previous) = fetch_row(
        conn,
        "select path, current_setting('memory_limit') from duckdb_databases() "
        "where database_name = current_database()",
    )
    if path:  # an in-memory database spills where DuckDB's default says
        with suppress(duckdb.NotImplementedException):  # the temporary folder is in use already
            conn.execute(f"set temp_directory = {literal(f'{path}.tmp')}")
    conn.execute(f"set memory_limit = {literal(limit)}")
    try:
        yield
    finally:
        # Settings read back rounded ("18.8 GiB"): reset to the default when that is what it
        # was, so that the exact value comes back.
        conn.execute("reset memory_limit")
        default = fetch_value(conn, "select current_setting('memory_limit')")
        if default != previous:
            conn.execute(f"set memory_limit = {literal(previous)}")
