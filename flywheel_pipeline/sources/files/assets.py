"""Raw assets for the file drops: CRM and ad-spend tables, conversations, decisions.

Each run reads every file in the asset's landing folder and replaces the raw table and that
source's slice of `raw.quarantine` in one transaction, so a rerun never duplicates or drops
rows.
"""

from collections.abc import Sequence

import dagster as dg

from flywheel_pipeline.metadata import frame_metadata, problems_metadata, utc_now
from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sources.files.conversations import load_conversations
from flywheel_pipeline.sources.files.schemas import CRM_TABLES, DECISIONS, FileTable
from flywheel_pipeline.sources.files.tables import load_table
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    replace_rows,
    replace_table,
)

GROUP = "sources"


def _log_rejections(context: dg.AssetExecutionContext, rejected: dict[str, str]) -> None:
    for reason in rejected.values():
        context.log.error(f"rejected file {reason}")


def file_table_asset(table: FileTable, deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", table.name],
        group_name=GROUP,
        kinds={"duckdb", "file"},
        pool=WAREHOUSE_POOL,
        deps=deps,
        description=f"Rows of `landing/{table.folder}/` files, typed, UTC, with lineage.",
    )
    def _load(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, paths: FlywheelPaths
    ) -> dg.MaterializeResult:
        loaded = load_table(table, paths.landing, utc_now())
        _log_rejections(context, loaded.files_rejected)
        with warehouse.get_connection() as conn:
            replace_table(conn, table.relation, loaded.rows)
            replace_rows(
                conn, "raw.quarantine", loaded.quarantine, key_column="source", keys=[table.name]
            )
        return dg.MaterializeResult(
            metadata=frame_metadata(
                loaded.rows,
                files_loaded=len(loaded.files_loaded),
                **problems_metadata(loaded.files_rejected, len(loaded.quarantine)),
            )
        )

    return _load


def conversations_asset(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                ["raw", "conversations"],
                deps=deps,
                description="One row per AI customer-service conversation.",
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
    def _load(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, paths: FlywheelPaths
    ):
        loaded = load_conversations(paths.landing, utc_now())
        _log_rejections(context, loaded.files_rejected)
        with warehouse.get_connection() as conn:
            replace_table(conn, "raw.conversations", loaded.conversations)
            replace_table(conn, "raw.conversation_messages", loaded.messages)
            replace_rows(
                conn,
                "raw.quarantine",
                loaded.quarantine,
                key_column="source",
                keys=["conversations"],
            )
        problems = problems_metadata(loaded.files_rejected, len(loaded.quarantine))
        yield dg.MaterializeResult(
            asset_key=["raw", "conversations"],
            metadata=frame_metadata(
                loaded.conversations.drop(columns=["contact_email"]),
                files_loaded=len(loaded.files_loaded),
                **problems,
            ),
        )
        yield dg.MaterializeResult(
            asset_key=["raw", "conversation_messages"], metadata=frame_metadata(loaded.messages)
        )

    return _load


def build_file_assets(deps: Sequence[dg.AssetKey] = ()) -> list[dg.AssetsDefinition]:
    """`deps` lets the demo simulator run before the loaders read what it wrote."""
    return [
        *(file_table_asset(table, deps) for table in CRM_TABLES),
        conversations_asset(deps),
        file_table_asset(DECISIONS, ()),
    ]
