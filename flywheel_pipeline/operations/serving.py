"""Publish a read-only copy of the marts for BI tools, swapped in atomically.

DuckDB allows one writer process, so BI tools never open the warehouse itself: they read
`serving/marts.duckdb` (named so that its catalog, `marts`, does not clash with the
`flywheel` schema) or `serving/parquet/<schema>/<table>.parquet`, which are replaced
only once a complete new copy exists.
"""

import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, sql_literal

MART_SCHEMAS = ("attract", "engage", "delight", "advocate", "flywheel")
SERVING_DATABASE = "marts.duckdb"


def mart_tables(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    rows = conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in (select unnest(?)) and table_catalog = current_database() "
        "order by 1, 2",
        [list(MART_SCHEMAS)],
    ).fetchall()
    return [(schema, table) for schema, table in rows]


def publish(conn: duckdb.DuckDBPyConnection, serving_dir: Path) -> list[str]:
    """Copy every mart to a new DuckDB file and Parquet files, then swap both in."""
    serving_dir.mkdir(parents=True, exist_ok=True)
    tables = mart_tables(conn)
    version = serving_dir / ".versions" / f"{os.getpid()}-{os.urandom(4).hex()}"
    (version / "parquet").mkdir(parents=True)
    database = version / SERVING_DATABASE

    conn.execute(f"attach {sql_literal(database)} as serving_copy")
    try:
        for schema, table in tables:
            conn.execute(f"create schema if not exists serving_copy.{schema}")
            conn.execute(
                f"create table serving_copy.{schema}.{table} as select * from {schema}.{table}"
            )
            target = version / "parquet" / schema / f"{table}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            conn.execute(f"copy {schema}.{table} to {sql_literal(target)} (format parquet)")
    finally:
        conn.execute("detach serving_copy")

    # os.replace is atomic: a reader sees the old copy or the new one, never a mix.
    os.replace(database, serving_dir / SERVING_DATABASE)
    link = serving_dir / "parquet"
    previous = Path(os.readlink(link)).parent.name if link.is_symlink() else None
    staged_link = serving_dir / f".parquet-{version.name}"
    staged_link.symlink_to(Path(".versions") / version.name / "parquet")
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(staged_link, link)
    _remove_old_versions(serving_dir, keep={version.name, previous})
    return [f"{schema}.{table}" for schema, table in tables]


def _remove_old_versions(serving_dir: Path, keep: set[str | None]) -> None:
    """Remove every version but `keep` (the new one and the one the link pointed to: a reader
    that resolved the old link may still be reading it), and what a publish killed part-way
    left: its version folder and its staged link."""
    for old in (serving_dir / ".versions").iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for staged in serving_dir.glob(".parquet-*"):
        staged.unlink(missing_ok=True)


def serving_copy_asset(marts: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=["serving", "marts"],
        group_name="flywheel",
        kinds={"duckdb", "parquet"},
        pool=WAREHOUSE_POOL,
        deps=marts,
        description="Read-only copy of every mart for BI tools ($FLYWHEEL_HOME/serving/).",
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
