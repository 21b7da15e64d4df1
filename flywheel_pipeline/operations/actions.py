"""Open actions as files a team or a tool picks up: `$FLYWHEEL_HOME/actions/<type>.csv`.

After each build, every recommendation still open (proposed or accepted) is written to the CSV
of its type, highest priority first, with what is needed to act on it (target, action,
rationale, expected impact, confidence). Each file is replaced whole and atomically; a type with
no open action left has no file, so the folder always mirrors `flywheel.recommendations`.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline.recommendations._ids import CANDIDATE_COLUMNS
from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, read_relation_if_exists

RECOMMENDATIONS = "flywheel.recommendations"
OPEN_STATUSES = ("proposed", "accepted")
# the candidate columns of every recommendation, with its priority and status up front
COLUMNS = [
    "recommendation_id",
    "priority",
    "status",
    *(c for c in CANDIDATE_COLUMNS if c not in {"recommendation_id", "priority", "cycle"}),
]


def open_actions(recommendations: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """Open recommendations per type, highest priority first."""
    if recommendations is None or recommendations.empty:
        return {}
    still_open = recommendations[recommendations["status"].isin(OPEN_STATUSES)]
    ordered = still_open.sort_values(["type", "priority"])[COLUMNS]
    return {str(kind): rows for kind, rows in ordered.groupby("type", sort=True)}


def export_open_actions(conn: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Write one CSV per type of open action into `folder`; returns rows per file."""
    by_type = open_actions(read_relation_if_exists(conn, RECOMMENDATIONS))
    folder.mkdir(parents=True, exist_ok=True)
    for kind, rows in by_type.items():
        partial = folder / f"{kind}.csv.partial"
        rows.to_csv(partial, index=False)
        partial.replace(folder / f"{kind}.csv")
    for stale in folder.glob("*.csv"):
        if stale.stem not in by_type:
            stale.unlink()
    return {kind: len(rows) for kind, rows in by_type.items()}


def actions_asset() -> dg.AssetsDefinition:
    @dg.asset(
        key=["reports", "open_actions"],
        group_name="flywheel",
        kinds={"csv"},
        pool=WAREHOUSE_POOL,
        deps=[dg.AssetKey(["flywheel", "recommendations"])],
        description="Open recommendations as one CSV per action type ($FLYWHEEL_HOME/actions).",
    )
    def open_actions_files(
        warehouse: WarehouseResource, paths: FlywheelPaths
    ) -> dg.MaterializeResult:
        folder = Path(paths.home) / "actions"
        with warehouse.get_connection() as conn:
            written = export_open_actions(conn, folder)
        return dg.MaterializeResult(
            metadata={
                "folder": dg.MetadataValue.path(str(folder)),
                "dagster/row_count": dg.MetadataValue.int(sum(written.values())),
                **{f"open_{kind}": dg.MetadataValue.int(n) for kind, n in written.items()},
            }
        )

    return open_actions_files
