"""Asset metadata shared by every domain: row counts, previews, column schemas, table names,
and the owners and tags of the asset catalog."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline.warehouse import CATALOG, catalog_columns, fetch_value


def utc_now() -> datetime:
    """Naive UTC wall-clock time, for lineage columns only (never for business logic)."""
    return datetime.now(UTC).replace(tzinfo=None)


def frame_metadata(frame: pd.DataFrame, preview_rows: int = 5, **extra: object) -> dict:
    metadata: dict[str, object] = {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "preview": dg.MetadataValue.md(
            frame.head(preview_rows).to_markdown(index=False) if len(frame) else "_empty_"
        ),
        "dagster/column_schema": dg.MetadataValue.table_schema(frame_schema(frame)),
    }
    metadata.update(extra)
    return metadata


def problems_metadata(rejected: Mapping[str, str], quarantined: int) -> dict:
    return {
        "files_rejected": dg.MetadataValue.int(len(rejected)),
        "rows_quarantined": dg.MetadataValue.int(quarantined),
        **(
            {"rejections": dg.MetadataValue.md("\n".join(f"- {r}" for r in rejected.values()))}
            if rejected
            else {}
        ),
    }


# Column schemas and row counts read back from the warehouse ---------------------------------


def table_schema(conn: duckdb.DuckDBPyConnection, relation: str) -> dg.TableSchema | None:
    """The columns of `schema.table` (a table or a view) as DuckDB stores them, or None when
    the relation does not exist."""
    columns = catalog_columns(conn, relation)
    if not columns:
        return None
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=sql_type.lower(),
                constraints=dg.TableColumnConstraints(nullable=nullable),
            )
            for name, sql_type, nullable in columns
        ]
    )


def table_metadata(
    conn: duckdb.DuckDBPyConnection, relation: str, *, count_timeout: float | None = None
) -> dict:
    """`dagster/row_count` and `dagster/column_schema` of `schema.table` as it is now.

    Views are counted too (their query runs once): several dbt staging models are views, and
    a row count on every materialisation is what the UI's asset pages plot. With
    `count_timeout` (seconds), a count still running then is interrupted and raises
    duckdb.InterruptException (see count_rows)."""
    schema = table_schema(conn, relation)
    if schema is None:
        return {}
    rows = count_rows(conn, relation, timeout=count_timeout)
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
    }


def count_rows(
    conn: duckdb.DuckDBPyConnection, relation: str, *, timeout: float | None = None
) -> int:
    """Rows of `schema.table`. A table's count is read from its row groups at once; a view's
    runs its whole query, which for a view over tens of millions of rows takes minutes that a
    row count on an asset page is not worth: past `timeout` seconds DuckDB is interrupted
    (duckdb.InterruptException)."""
    timer = threading.Timer(timeout, conn.interrupt) if timeout is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        return fetch_value(conn, f"select count(*) from {relation}")
    finally:
        if timer is not None:
            timer.cancel()


def column_schema_metadata(conn: duckdb.DuckDBPyConnection, relation: str) -> dict:
    """`dagster/column_schema` of `schema.table` as written (for assets that stream their
    rows and never hold the whole frame), or nothing when it does not exist."""
    schema = table_schema(conn, relation)
    return (
        {} if schema is None else {"dagster/column_schema": dg.MetadataValue.table_schema(schema)}
    )


def frame_schema(frame: pd.DataFrame) -> dg.TableSchema:
    """A frame's columns with their pandas dtypes, for assets that publish what they wrote."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=str(name), type=str(dtype)) for name, dtype in frame.dtypes.items()
        ]
    )


# Names, owners and tags every asset carries ------------------------------------------------

# Key prefix (the DuckDB schema for warehouse assets) -> layer of the architecture.
LAYERS = {
    "demo": "demo",
    "raw": "raw",
    "staging": "staging",
    "intermediate": "intermediate",
    "attract": "marts",
    "engage": "marts",
    "delight": "marts",
    "advocate": "marts",
    "flywheel": "marts",
    "ml": "ml",
    "reports": "serving",
    "serving": "serving",
}
FLYWHEEL_STAGES = ("attract", "engage", "delight", "advocate", "flywheel")
# Assets that feed every stage (sources, staging, identity resolution) are the foundation.
FOUNDATION = "foundation"
DEFAULT_OWNER = "team:data"


def stage_tags(key: dg.AssetKey, group_name: str | None) -> dict[str, str]:
    """`stage` (the flywheel stage the asset serves: its group when that is a stage, else
    `foundation`) and `layer` (raw, staging, intermediate, marts, ml, serving, demo), for
    filtering the asset catalog (`tag:stage=engage`)."""
    stage = group_name if group_name in FLYWHEEL_STAGES else FOUNDATION
    return {"stage": stage, "layer": LAYERS.get(key.path[0], "other")}


def warehouse_table_name(key: dg.AssetKey) -> str | None:
    """`warehouse.<schema>.<table>` for an asset whose key is its relation in the warehouse
    (the raw and ml assets), as `dagster/table_name` wants it: the catalog alias the file is
    attached under (warehouse.CATALOG), the same whatever the file's name."""
    if len(key.path) != 2 or key.path[0] not in ("raw", "ml"):
        return None
    return ".".join((CATALOG, *key.path))
