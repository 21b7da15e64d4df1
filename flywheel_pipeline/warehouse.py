"""The DuckDB warehouse: the resource every writing asset uses, and atomic table writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


def replace_table(conn: duckdb.DuckDBPyConnection, relation: str, frame: pd.DataFrame) -> int:
    """Replace `schema.table` with `frame` in one transaction; readers never see half a table."""
    schema, _ = relation.split(".")
    conn.execute(f"create schema if not exists {schema}")
    conn.register("_incoming", frame)
    try:
        conn.execute("begin transaction")
        conn.execute(f"create or replace table {relation} as select * from _incoming")
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise
    finally:
        conn.unregister("_incoming")
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
    conn.register("_incoming", frame)
    try:
        conn.execute("begin transaction")
        conn.execute(
            f"create table if not exists {relation} as select * from _incoming where false"
        )
        conn.execute(f"delete from {relation} where {key_column} in (select unnest(?))", [keys])
        conn.execute(f"insert into {relation} by name select * from _incoming")
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise
    finally:
        conn.unregister("_incoming")


def read_relation(conn: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame:
    return conn.execute(f"select * from {relation}").df()
