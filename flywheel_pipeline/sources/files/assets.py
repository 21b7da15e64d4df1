"""Raw assets for the file drops: CRM and ad-spend tables, conversations, decisions.

Each run loads only what is new in the asset's landing folder (drops.py): every file version
exactly once and atomically, recorded in `raw.file_manifest`. Rows accumulate across files;
a changed file replaces its earlier version's rows; a removed file keeps its rows, unless the
folder's mirror marker names it (the demo's files): then the asset retires them. Tables are
read under their folder's mapping.yaml and the `paths` resource's time zone
(FLYWHEEL_TIMEZONE).
"""

from collections.abc import Sequence
from datetime import UTC

import dagster as dg
import duckdb

from flywheel_pipeline.metadata import column_schema_metadata, frame_metadata
from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sources.files import manifest
from flywheel_pipeline.sources.files.drops import (
    CONVERSATIONS_DROP,
    DropReport,
    DropSource,
    load_new_files,
    table_drop,
)
from flywheel_pipeline.sources.files.schemas import CRM_TABLES, DECISIONS, FileTable
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, fetch_value

GROUP = "sources"
LISTED_FILES = 20  # files named in metadata; the manifest has them all
LOADING = (
    "Loads each new or changed file once, atomically (raw.file_manifest records every "
    "version); a changed file replaces its earlier version's rows, a removed file keeps them "
    "unless the folder's .flywheel-mirror marker names it (the demo's files): then its rows "
    "are retired."
)


def _load(
    context: dg.AssetExecutionContext,
    conn: duckdb.DuckDBPyConnection,
    source: DropSource,
    paths: FlywheelPaths,
) -> DropReport:
    report = load_new_files(conn, source, paths.landing)
    for outcome in report.rejected:
        context.log.error(f"rejected file {outcome.error}")
    for file in report.changed_while_loading:
        context.log.warning(f"{file} changed while it was being read; left for the next run")
    context.log.info(
        f"{source.name}: {len(report.loaded)} file(s) loaded ({report.rows_loaded:,} rows, "
        f"{report.rows_quarantined:,} quarantined), {len(report.rejected)} rejected, "
        f"{len(report.unchanged) + len(report.still_rejected)} unchanged, "
        f"{len(report.retired)} gone from a mirror and retired"
    )
    return report


def drop_metadata(report: DropReport) -> dict[str, object]:
    """What this run did with the landing folder, for the materialisation."""
    metadata: dict[str, object] = {
        "files_loaded": dg.MetadataValue.int(len(report.loaded)),
        "files_skipped": dg.MetadataValue.int(len(report.unchanged) + len(report.still_rejected)),
        "files_rejected": dg.MetadataValue.int(len(report.rejected)),
        "files_new_versions": dg.MetadataValue.int(len(report.new_versions)),
        "rows_loaded": dg.MetadataValue.int(report.rows_loaded),
        "rows_quarantined": dg.MetadataValue.int(report.rows_quarantined),
        "files_retired": dg.MetadataValue.int(len(report.retired)),
    }
    rejections = [f"- {o.error}" for o in report.rejected] + [
        f"- {error} (unchanged since an earlier run)" for error in report.still_rejected.values()
    ]
    if rejections:
        metadata["rejections"] = dg.MetadataValue.md("\n".join(rejections))
    if report.outcomes:
        lines = ["| file | version | status | rows | quarantined |", "|---|---|---|---|---|"]
        lines += [
            f"| {o.file} | {o.version} | {o.status} | {o.rows:,} | {o.quarantined:,} |"
            for o in report.outcomes[:LISTED_FILES]
        ]
        metadata["files"] = dg.MetadataValue.md("\n".join(lines))
    if report.retired:
        metadata["files_gone_retired"] = dg.MetadataValue.md(
            "Gone from the folder, which mirrors them (.flywheel-mirror): their rows were "
            f"retired: {_listed(report.retired)}"
        )
    if report.gone:
        metadata["files_gone_rows_kept"] = dg.MetadataValue.md(
            f"{len(report.gone)} file(s) no longer in the landing folder; their rows are kept "
            f"(remove rows with SQL if they must go): {_listed(report.gone)}"
        )
    return metadata


def _listed(files: Sequence[str]) -> str:
    unlisted = len(files) - LISTED_FILES
    return ", ".join(files[:LISTED_FILES]) + (f" and {unlisted} more" if unlisted > 0 else "")


def arrival_metadata(conn: duckdb.DuckDBPyConnection, source: DropSource) -> dict[str, object]:
    """When the folder last brought new rows. The daily run materialises every file asset
    whether or not a file arrived, so the freshness checks (sources/checks.py) read this
    time, not the run's. A folder that never received a file has none: an unused source is
    skipped, not stale."""
    loaded_at = manifest.last_loaded_at(conn, source.name)
    if loaded_at is None:
        return {}
    return {
        "dagster/last_updated_timestamp": dg.MetadataValue.timestamp(loaded_at.replace(tzinfo=UTC))
    }


def table_metadata(
    conn: duckdb.DuckDBPyConnection, relation: str, *, hide: Sequence[str] = ()
) -> dict[str, object]:
    """Row count and the latest rows of a raw table."""
    exclude = f" exclude ({', '.join(hide)})" if hide else ""
    rows = fetch_value(conn, f"select count(*) from {relation}")
    preview = conn.execute(
        f"select *{exclude} from {relation} order by _loaded_at desc, _source_file, _line limit 5"
    ).df()
    metadata = frame_metadata(preview)
    metadata["dagster/row_count"] = dg.MetadataValue.int(rows)
    # the whole table's columns, hidden ones included (the preview leaves those out)
    metadata.update(column_schema_metadata(conn, relation))
    return metadata


def file_table_asset(table: FileTable, deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:

    @dg.asset(
        key=["raw", table.name],
        group_name=GROUP,
        kinds={"duckdb", "file"},
        pool=WAREHOUSE_POOL,
        deps=deps,
        description=f"Rows of `landing/{table.folder}/` files, typed, UTC, with lineage. "
        + LOADING,
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, paths: FlywheelPaths
    ) -> dg.MaterializeResult:
        source = table_drop(table, timezone=paths.timezone)
        with warehouse.get_connection() as conn:
            report = _load(context, conn, source, paths)
            metadata = {**table_metadata(conn, table.relation), **arrival_metadata(conn, source)}
        return dg.MaterializeResult(metadata={**metadata, **drop_metadata(report)})

    return _asset


def conversations_asset(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    conversations, messages = CONVERSATIONS_DROP.tables

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                ["raw", "conversations"],
                deps=deps,
                description="One row per AI customer-service conversation. " + LOADING,
                kinds={"duckdb", "file"},
            ),
            dg.AssetSpec(
                ["raw", "conversation_messages"],
                deps=deps,
                description="One row per message; emails and phone numbers redacted.",
                kinds={"duckdb", "file"},
            ),
        ],
        group_name=GROUP,
        pool=WAREHOUSE_POOL,
        name="raw_conversations",
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, paths: FlywheelPaths
    ):
        with warehouse.get_connection() as conn:
            report = _load(context, conn, CONVERSATIONS_DROP, paths)
            conversation_metadata = table_metadata(conn, conversations, hide=["contact_email"])
            conversation_metadata.update(arrival_metadata(conn, CONVERSATIONS_DROP))
            message_metadata = table_metadata(conn, messages)
        yield dg.MaterializeResult(
            asset_key=["raw", "conversations"],
            metadata={**conversation_metadata, **drop_metadata(report)},
        )
        yield dg.MaterializeResult(
            asset_key=["raw", "conversation_messages"], metadata=message_metadata
        )

    return _asset


def build_file_assets(deps: Sequence[dg.AssetKey] = ()) -> list[dg.AssetsDefinition]:
    """`deps` lets the demo simulator run before the loaders read what it wrote."""
    return [
        *(file_table_asset(table, deps) for table in CRM_TABLES),
        conversations_asset(deps),
        file_table_asset(DECISIONS, ()),
    ]
