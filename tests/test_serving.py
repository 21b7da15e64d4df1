"""The serving copy: every mart, as DuckDB and Parquet, swapped in whole."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from flywheel_pipeline.operations.serving import publish
from flywheel_pipeline.warehouse import connect


def _warehouse(path: Path, rows: int) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(path))
    conn.execute("create schema if not exists attract; create schema if not exists raw")
    conn.execute(
        f"create or replace table attract.channel_daily as select range as n from range({rows})"
    )
    conn.execute("create or replace table raw.secret as select 1 as x")
    return conn


def test_publish_copies_marts_only_and_replaces_previous_copy(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    with _warehouse(tmp_path / "w.duckdb", rows=3) as conn:
        assert publish(conn, serving) == ["attract.channel_daily"]
    with _warehouse(tmp_path / "w.duckdb", rows=5) as conn:
        publish(conn, serving)

    with duckdb.connect(str(serving / "marts.duckdb"), read_only=True) as copy:
        assert copy.execute("select count(*) from attract.channel_daily").fetchone() == (5,)
        schemas = {
            r[0] for r in copy.execute("select schema_name from duckdb_schemas()").fetchall()
        }
        assert "raw" not in schemas
    parquet = pd.read_parquet(serving / "parquet" / "attract" / "channel_daily.parquet")
    assert len(parquet) == 5
    # the previous version is kept for readers that opened it; older ones are removed
    assert len(list((serving / ".versions").iterdir())) == 2


def test_publish_removes_what_a_killed_publish_left(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    with _warehouse(tmp_path / "w.duckdb", rows=3) as conn:
        publish(conn, serving)
    previous = (serving / "parquet").resolve().parent.name
    # a publish killed part-way: a half-written version, newer than the one in use, and its link
    (serving / ".versions" / "123-dead" / "parquet").mkdir(parents=True)
    (serving / ".parquet-123-dead").symlink_to(Path(".versions") / "123-dead" / "parquet")
    with _warehouse(tmp_path / "w.duckdb", rows=4) as conn:
        publish(conn, serving)
    current = (serving / "parquet").resolve().parent.name
    assert {v.name for v in (serving / ".versions").iterdir()} == {previous, current}
    assert not list(serving.glob(".parquet-*"))


def test_a_home_folder_with_a_quote_in_its_name_works(tmp_path: Path) -> None:
    """Paths reach SQL as literals: O'Brien's home must neither break nor inject."""
    home = tmp_path / "o'brien's data"
    home.mkdir()
    database = home / "warehouse.duckdb"
    with connect(database) as conn:
        conn.execute("create schema attract")
        conn.execute("create table attract.channel_daily as select 1 as n")
        assert publish(conn, home / "serving") == ["attract.channel_daily"]
    with connect(home / "serving" / "marts.duckdb", read_only=True) as copy:
        assert copy.execute("select n from attract.channel_daily").fetchone() == (1,)
    assert (home / "serving" / "parquet" / "attract" / "channel_daily.parquet").exists()
