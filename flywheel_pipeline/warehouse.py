"""The DuckDB warehouse: the resource every writing asset uses, and atomic table writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

# Every asset that writes the warehouse runs in this Dagster concurrency pool. dagster.yaml
# limits it to one step at a time because DuckDB allows a single writer process.
WAREHOUSE_POOL = "warehouse"

# The file is flywheel.duckdb and one schema is `flywheel`: opened directly, DuckDB would name
# the catalog `flywheel` too and `flywheel.recommendations` would be ambiguous. Attaching the
# file under this alias keeps two-part names (`schema.table`) unambiguous.
CATALOG = "warehouse"


@contextmanager
def connect(path: str | Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    try:
        mode = " (read_only)" if read_only else ""
        conn.execute(f"attach '{path}' as {CATALOG}{mode}")
        conn.execute(f"use {CATALOG}")
        yield conn
    finally:
        conn.close()


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file; assets that use it belong in WAREHOUSE_POOL."""

    path: str

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with connect(self.path) as conn:
            yield conn


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


def replace_table(conn: duckdb.DuckDBPyConnection, relation: str, frame: pd.DataFrame) -> int:
    """Replace `schema.table` with `frame` in one transaction; readers never see half a table."""
    schema, _ = relation.split(".")
    conn.execute(f"create schema if not exists {schema}")
    with _registered(conn, "_incoming", frame), transaction(conn):
        conn.execute(f"create or replace table {relation} as select * from _incoming")
    return len(frame)


def replace_rows(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    frame: pd.DataFrame,
    *,
    key_column: str,
    keys: Sequence[str],
) -> None:
    """Delete the rows whose `key_column` is in `keys`, then append `frame`, atomically.

    Used for tables several assets share (e.g. raw.quarantine, one slice per source).
    """
    schema, _ = relation.split(".")
    conn.execute(f"create schema if not exists {schema}")
    with _registered(conn, "_incoming", frame), transaction(conn):
        conn.execute(
            f"create table if not exists {relation} as select * from _incoming where false"
        )
        conn.execute(f"delete from {relation} where {key_column} in (select unnest(?))", [keys])
        conn.execute(f"insert into {relation} by name select * from _incoming")


def read_relation(conn: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame:
    return conn.execute(f"select * from {relation}").df()


class StreamingTableWriter:
    """Replace `schema.table` with frames appended one at a time, then swap it in atomically.

    Use as a context manager. Entering creates a staging table `schema.<table>__incoming`
    (from `columns`, or from the first frame's shape); every `append` adds one frame and
    commits it to the staging table, so only one frame is ever held in memory (a single open
    transaction would not do: DuckDB keeps uncommitted appends in memory, and memory would grow
    with the row count). Leaving the block swaps the staging table in with one transaction
    (drop the old table, rename the staging one): readers see the old table or the new one,
    never half of either. An exception inside the block drops the staging table and leaves the
    previous table untouched. A staging table left by a crashed process is dropped on the next
    write (writers are serialised by WAREHOUSE_POOL).
    """

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        relation: str,
        columns: Mapping[str, str] | None = None,
    ) -> None:
        schema, table = relation.split(".")
        self.conn = conn
        self.relation = relation
        self.schema = schema
        self.table = table
        self.staging = f"{schema}.{table}__incoming"
        self.columns = dict(columns) if columns else None
        self.rows = 0
        self.frames = 0
        self._created = False
        self._open = False

    def __enter__(self) -> StreamingTableWriter:
        self.conn.execute(f"create schema if not exists {self.schema}")
        self.conn.execute(f"drop table if exists {self.staging}")
        if self.columns is not None:
            ddl = ", ".join(f'"{name}" {sql_type}' for name, sql_type in self.columns.items())
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
                self.conn.execute(f"drop table if exists {self.relation}")
                self.conn.execute(f"alter table {self.staging} rename to {self.table}")
        except Exception:
            self.conn.execute(f"drop table if exists {self.staging}")
            raise


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
