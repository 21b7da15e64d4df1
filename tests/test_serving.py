"""The serving copy: every mart as Parquet swapped in whole, behind a stable file of views."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from flywheel_pipeline.operations.serving import Column, Mart, publish, view_script, write_views
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


def _commented_warehouse(path: Path, extra_column: bool = False) -> duckdb.DuckDBPyConnection:
    """A warehouse whose mart carries comments the way dbt's persist_docs writes them."""
    conn = duckdb.connect(str(path))
    extra = ", 'x' as note" if extra_column else ""
    conn.execute("create schema if not exists engage")
    conn.execute(
        "create or replace table engage.conversations as "
        f"select 'c1' as conversation_id, sum(3)::hugeint as message_count{extra}"
    )
    conn.execute("comment on table engage.conversations is 'One row per conversation.\n'")
    conn.execute("comment on column engage.conversations.conversation_id is 'Its id.\n'")
    return conn


def test_the_serving_file_holds_views_with_warehouse_types_and_dbt_descriptions(
    tmp_path: Path,
) -> None:
    serving = tmp_path / "serving"
    with _commented_warehouse(tmp_path / "w.duckdb") as conn:
        publish(conn, serving)
    with duckdb.connect(str(serving / "marts.duckdb"), read_only=True) as copy:
        assert copy.execute("select count(*) from duckdb_tables()").fetchone() == (0,)
        assert copy.execute(
            "select comment from duckdb_views() where view_name = 'conversations'"
        ).fetchone() == ("One row per conversation.",)
        columns = copy.execute(
            "select column_name, data_type, comment from duckdb_columns() "
            "where table_name = 'conversations' order by column_index"
        ).fetchall()
        # Parquet turns HUGEINT into DOUBLE: the view casts it back
        assert columns == [
            ("conversation_id", "VARCHAR", "Its id."),
            ("message_count", "HUGEINT", None),
        ]


def test_a_reader_keeps_its_connection_and_sees_each_publish(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    with _warehouse(tmp_path / "w.duckdb", rows=3) as conn:
        publish(conn, serving)
    with duckdb.connect(str(serving / "marts.duckdb"), read_only=True) as reader:
        assert reader.execute("select count(*) from attract.channel_daily").fetchone() == (3,)
        for rows in (5, 7):
            with _warehouse(tmp_path / "w.duckdb", rows=rows) as conn:
                publish(conn, serving)
            got = reader.execute("select count(*) from attract.channel_daily").fetchone()
            assert got == (rows,)


def test_views_read_absolute_paths_from_any_working_directory(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    (tmp_path / "elsewhere").mkdir()
    with _warehouse(tmp_path / "w.duckdb", rows=2) as conn:
        publish(conn, Path("serving"))  # relative, as FLYWHEEL_HOME=./data gives
    answer = subprocess.run(
        [sys.executable, "-c", READ_COUNT, str(serving / "marts.duckdb")],
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.strip() == "2"


READ_COUNT = """
import sys, duckdb
with duckdb.connect(sys.argv[1], read_only=True) as c:
    print(c.execute("select count(*) from attract.channel_daily").fetchone()[0])
"""

# Holds the serving file open read-only in another process (DuckDB then holds a file lock),
# reading on each line of stdin until stdin closes.
HOLD_OPEN = """
import sys, duckdb
c = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
for _ in sys.stdin:
    try:
        print(c.execute("select count(*) from engage.conversations").fetchone()[0], flush=True)
    except Exception as exc:
        print("error", type(exc).__name__, exc, flush=True)
"""


def test_the_view_file_is_rewritten_only_when_its_declaration_changes(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    with _commented_warehouse(tmp_path / "w.duckdb") as conn:
        publish(conn, serving)
    first = (serving / "marts.duckdb").stat().st_ino
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(serving / "marts.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        with _commented_warehouse(tmp_path / "w.duckdb") as conn:
            publish(conn, serving)
        assert (serving / "marts.duckdb").stat().st_ino == first  # same declaration: kept
        # a new column: the file is rewritten although another process holds it open
        with _commented_warehouse(tmp_path / "w.duckdb", extra_column=True) as conn:
            publish(conn, serving)
        assert (serving / "marts.duckdb").stat().st_ino != first
        reader.stdin.write("read\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "1"  # the old file's views still answer
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    with duckdb.connect(str(serving / "marts.duckdb"), read_only=True) as copy:
        assert copy.execute("select note from engage.conversations").fetchone() == ("x",)
    assert not list(serving.glob(".marts*"))  # no staged file left


def test_a_publish_killed_while_writing_the_view_file_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    serving = tmp_path / "serving"
    with _warehouse(tmp_path / "w.duckdb", rows=3) as conn:
        publish(conn, serving)
    (serving / ".marts.duckdb.123-dead").write_bytes(b"half a file")
    (serving / ".marts.duckdb.123-dead.wal").write_bytes(b"")
    (serving / ".marts.sql.123-dead").write_text("half a script")
    (serving / "marts.sql").write_text("-- a publish died before recording its script\n")
    with _warehouse(tmp_path / "w.duckdb", rows=4) as conn:
        publish(conn, serving)
    assert {p.name for p in serving.iterdir()} == {
        ".versions",
        "marts.duckdb",
        "marts.sql",
        "parquet",
    }
    with duckdb.connect(str(serving / "marts.duckdb"), read_only=True) as copy:
        assert copy.execute("select count(*) from attract.channel_daily").fetchone() == (4,)


def test_the_view_script_quotes_names_paths_and_comments() -> None:
    mart = Mart(
        "engage",
        'odd"name',
        "O'Brien's table",
        (Column("a b", "DECIMAL(18,3)", "it's a comment"), Column("c", "VARCHAR", None)),
    )
    script = view_script([mart], Path("/srv/o'brien/parquet"))
    assert (
        'create view "engage"."odd""name" as select cast("a b" as DECIMAL(18,3)) as "a b", '
        """cast("c" as VARCHAR) as "c" from read_parquet('/srv/o''brien/parquet/engage/"""
        """odd"name.parquet');"""
    ) in script
    assert """comment on view "engage"."odd""name" is 'O''Brien''s table';""" in script
    assert """comment on column "engage"."odd""name"."a b" is 'it''s a comment';""" in script
    assert '"c" is' not in script  # no comment, no statement
    with pytest.raises(ValueError, match="absolute"):
        view_script([mart], Path("serving/parquet"))


def test_a_view_file_that_fails_to_build_leaves_the_current_one_alone(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    with _warehouse(tmp_path / "w.duckdb", rows=3) as conn:
        publish(conn, serving)
    before = (serving / "marts.duckdb").read_bytes()
    with pytest.raises(duckdb.CatalogException):
        write_views(serving, "create view attract.broken as select * from no_such_table;\n")
    assert (serving / "marts.duckdb").read_bytes() == before
    assert not list(serving.glob(".marts*"))
