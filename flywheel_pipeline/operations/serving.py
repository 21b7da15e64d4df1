"""Publish the marts for BI tools: Parquet swapped in atomically, behind a stable file of views.

DuckDB allows one writer process, so BI tools never open the warehouse itself. Each publish
copies every mart to Parquet in a new version folder and swaps the `serving/parquet` symlink
to it in one step. `serving/marts.duckdb` (named so that its catalog, `marts`, does not clash
with the `flywheel` schema) holds no data: one view per mart over
`<serving>/parquet/<schema>/<table>.parquet`, read through that symlink, with dbt's
descriptions as comments. A BI tool that keeps the file open therefore sees every new build
without reconnecting. The file is rewritten only when what it declares changes (tables,
columns, types, comments), and then as a new file moved over the old one: DuckDB locks the
file it opens, so writing it in place would fail while any reader holds it, whereas a reader
of the replaced file keeps working on the old one until it reconnects.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sql import identifier, literal, relation_name
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource

MART_SCHEMAS = ("attract", "engage", "delight", "advocate", "flywheel")
SERVING_DATABASE = "marts.duckdb"
# The SQL that built the current serving file: publish compares against it to know whether
# the file needs rewriting (and a user can read what the views are).
VIEWS_SCRIPT = "marts.sql"


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    comment: str | None


@dataclass(frozen=True)
class Mart:
    schema: str
    table: str
    comment: str | None
    columns: tuple[Column, ...]

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def _comment(text: str | None) -> str | None:
    # dbt's folded YAML descriptions end in a newline; an empty comment is no comment
    return (text.strip() or None) if text else None


def mart_declarations(conn: duckdb.DuckDBPyConnection) -> list[Mart]:
    """Every table and view of the mart schemas, with its columns, types and comments (dbt's
    persist_docs writes the model and column descriptions as DuckDB comments)."""
    relations = conn.execute(
        "select schema_name, table_name, comment from duckdb_tables() "
        "where database_name = current_database() and schema_name in (select unnest($1)) "
        "union all "
        "select schema_name, view_name, comment from duckdb_views() "
        "where database_name = current_database() and schema_name in (select unnest($1)) "
        "order by 1, 2",
        [list(MART_SCHEMAS)],
    ).fetchall()
    columns: dict[tuple[str, str], list[Column]] = {}
    for schema, table, name, data_type, comment in conn.execute(
        "select schema_name, table_name, column_name, data_type, comment from duckdb_columns() "
        "where database_name = current_database() and schema_name in (select unnest($1)) "
        "order by schema_name, table_name, column_index",
        [list(MART_SCHEMAS)],
    ).fetchall():
        columns.setdefault((schema, table), []).append(Column(name, data_type, _comment(comment)))
    return [
        Mart(schema, table, _comment(comment), tuple(columns.get((schema, table), ())))
        for schema, table, comment in relations
    ]


def parquet_file(parquet_root: Path, mart: Mart) -> Path:
    return parquet_root / mart.schema / f"{mart.table}.parquet"


def view_script(all_marts: list[Mart], parquet_root: Path) -> str:
    """The SQL of the serving file: one view per mart over its Parquet file under
    `parquet_root`, which must be absolute (DuckDB resolves a relative path against the
    reader's working directory, not the file's). Each column is cast to its warehouse type,
    which Parquet does not always keep (HUGEINT comes back as DOUBLE)."""
    if not parquet_root.is_absolute():
        raise ValueError(f"views need an absolute Parquet path, got {parquet_root}")
    lines = ["-- The views of marts.duckdb, written by the serving/marts asset: do not edit."]
    for schema in sorted({m.schema for m in all_marts}):
        lines.append(f"create schema if not exists {identifier(schema)};")
    for mart in all_marts:
        relation = relation_name(mart.schema, mart.table)
        select = ", ".join(
            f"cast({identifier(c.name)} as {c.data_type}) as {identifier(c.name)}"
            for c in mart.columns
        )
        source = literal(parquet_file(parquet_root, mart))
        lines.append(f"create view {relation} as select {select} from read_parquet({source});")
        if mart.comment:
            lines.append(f"comment on view {relation} is {literal(mart.comment)};")
        for column in mart.columns:
            if column.comment:
                lines.append(
                    f"comment on column {relation}.{identifier(column.name)} "
                    f"is {literal(column.comment)};"
                )
    return "\n".join(lines) + "\n"


def write_views(serving_dir: Path, script: str) -> bool:
    """Make `serving_dir/marts.duckdb` hold exactly `script`'s views; True if it was rewritten.

    The new file is built beside the old one and moved over it: os.replace is atomic, needs
    no lock on the old file (a BI tool may hold it open read-only), and a reader that opens
    the file sees the old declaration or the new one, never a half-written file.
    """
    database = serving_dir / SERVING_DATABASE
    declared = serving_dir / VIEWS_SCRIPT
    if database.exists() and declared.exists() and declared.read_text() == script:
        return False
    token = f"{os.getpid()}-{os.urandom(4).hex()}"
    staged = serving_dir / f".{SERVING_DATABASE}.{token}"
    try:
        with duckdb.connect(str(staged)) as conn:
            conn.execute(script)
            conn.execute("checkpoint")  # everything in the file itself, no WAL beside it
    except Exception:
        for leftover in (staged, staged.with_name(staged.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    os.replace(staged, database)
    # the script last: if a publish dies before this, the next one rewrites the file again
    staged_script = serving_dir / f".{VIEWS_SCRIPT}.{token}"
    staged_script.write_text(script)
    os.replace(staged_script, declared)
    return True


def publish(conn: duckdb.DuckDBPyConnection, serving_dir: Path) -> list[str]:
    """Copy every mart to Parquet in a new version folder, swap it in, and keep the view
    file in step; returns the published marts as `schema.table`."""
    # absolute without resolving symlinks: the views must read through `parquet`, the link
    serving_dir = Path(os.path.abspath(serving_dir))
    serving_dir.mkdir(parents=True, exist_ok=True)
    published = mart_declarations(conn)
    version = serving_dir / ".versions" / f"{os.getpid()}-{os.urandom(4).hex()}"
    (version / "parquet").mkdir(parents=True)
    for mart in published:
        target = parquet_file(version / "parquet", mart)
        target.parent.mkdir(parents=True, exist_ok=True)
        relation = relation_name(mart.schema, mart.table)
        conn.execute(f"copy {relation} to {literal(target)} (format parquet)")

    # os.replace is atomic: a reader sees the old version or the new one, never a mix.
    link = serving_dir / "parquet"
    previous = Path(os.readlink(link)).parent.name if link.is_symlink() else None
    staged_link = serving_dir / f".parquet-{version.name}"
    staged_link.symlink_to(Path(".versions") / version.name / "parquet")
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(staged_link, link)
    # after the swap: a view is created against its Parquet file, which must exist
    write_views(serving_dir, view_script(published, link))
    _remove_old_versions(serving_dir, keep={version.name, previous})
    return [mart.name for mart in published]


def _remove_old_versions(serving_dir: Path, keep: set[str | None]) -> None:
    """Remove every version but `keep` (the new one and the one the link pointed to: a reader
    that resolved the old link may still be reading it), and what a publish killed part-way
    left: its version folder, its staged link and its staged view file."""
    for old in (serving_dir / ".versions").iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for staged in serving_dir.glob(".parquet-*"):
        staged.unlink(missing_ok=True)
    for staged in [
        *serving_dir.glob(f".{SERVING_DATABASE}.*"),
        *serving_dir.glob(f".{VIEWS_SCRIPT}.*"),
    ]:
        staged.unlink(missing_ok=True)


def serving_copy_asset(marts: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=["serving", "marts"],
        group_name="flywheel",
        kinds={"duckdb", "parquet"},
        pool=WAREHOUSE_POOL,
        deps=marts,
        description="Every mart as Parquet for BI tools, behind a stable DuckDB file of views "
        "($FLYWHEEL_HOME/serving/marts.duckdb; docs/bi.md).",
    )
    def serving_marts(warehouse: WarehouseResource, paths: FlywheelPaths) -> dg.MaterializeResult:
        with warehouse.get_connection() as conn:
            published = publish(conn, Path(paths.serving_dir))
        return dg.MaterializeResult(
            metadata={
                "tables": len(published),
                "path": dg.MetadataValue.path(str(Path(paths.serving_dir) / SERVING_DATABASE)),
            }
        )

    return serving_marts
