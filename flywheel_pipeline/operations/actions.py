"""Open actions as files a team or a tool picks up: `$FLYWHEEL_HOME/actions/<type>.csv`.

After each build, every recommendation still open (proposed or accepted) is written to the CSV
of its type, highest priority first, with what is needed to act on it (target, action,
rationale, expected impact, confidence, and for content and title actions the `brief`: the
customers' questions, searches and page to work from, as lines of text in one quoted cell;
empty for the other types). A list recommendation (`contact_list`, `deal_list`:
follow up these leads, attend these deals, …) is written as its members, one row each in
list order (`position`), with the member's target, reason (`rationale`) and expected impact
beside the list's id, priority, status and action: a team acts on people. Members in the
list's random holdout are never written — they are left alone so the lift can be measured
(`flywheel.recommendation_targets`). Each file is replaced whole and atomically; a type with
no open action left has no file, so the folder always mirrors `flywheel.recommendations`.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline.recommendations._ids import CANDIDATE_COLUMNS
from flywheel_pipeline.recommendations.lists import LIST_TARGET_TYPES
from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, read_relation_if_exists

RECOMMENDATIONS = "flywheel.recommendations"
TARGETS = "flywheel.recommendation_targets"
OPEN_STATUSES = ("proposed", "accepted")
# the candidate columns of every recommendation, with its priority, status and (a list
# member's) position up front
COLUMNS = [
    "recommendation_id",
    "priority",
    "status",
    "position",
    *(c for c in CANDIDATE_COLUMNS if c not in {"recommendation_id", "priority", "cycle"}),
]
_MEMBER = {
    "target_type": "target_type",
    "target_id": "target_id",
    "reason": "rationale",
    "expected_impact": "expected_impact",
    "position": "position",
}


def _treated_members(lists: pd.DataFrame, targets: pd.DataFrame | None) -> pd.DataFrame:
    """One row per member of the ``lists`` that is not in the holdout, the member's target,
    reason and impact in place of the list's."""
    if lists.empty or targets is None or targets.empty:
        return lists.iloc[0:0].assign(position=pd.Series(dtype="Int64"))
    treated = targets[~targets["holdout"].astype("boolean").fillna(True).astype(bool)]
    members = treated[["recommendation_id", *_MEMBER]].rename(columns=_MEMBER)
    own = lists.drop(columns=[c for c in _MEMBER.values() if c in lists])
    return own.merge(members, on="recommendation_id", how="inner")


def open_actions(
    recommendations: pd.DataFrame | None, targets: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """Open recommendations per type, highest priority first; a list recommendation as its
    members outside the holdout (``targets``: flywheel.recommendation_targets), in list
    order."""
    if recommendations is None or recommendations.empty:
        return {}
    still_open = recommendations[recommendations["status"].isin(OPEN_STATUSES)]
    is_list = still_open["target_type"].isin(LIST_TARGET_TYPES)
    single = still_open[~is_list].assign(position=pd.Series(dtype="Int64"))
    rows = pd.concat([single, _treated_members(still_open[is_list], targets)], ignore_index=True)
    rows["position"] = rows["position"].astype("Int64")
    # reindex: a mart built before a column was added (brief) exports it empty
    ordered = rows.sort_values(["type", "priority", "position"]).reindex(columns=COLUMNS)
    return {str(kind): rows for kind, rows in ordered.groupby("type", sort=True)}


def export_open_actions(conn: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Write one CSV per type of open action into `folder`; returns rows per file."""
    by_type = open_actions(
        read_relation_if_exists(conn, RECOMMENDATIONS), read_relation_if_exists(conn, TARGETS)
    )
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
        deps=[
            dg.AssetKey(["flywheel", "recommendations"]),
            dg.AssetKey(["flywheel", "recommendation_targets"]),
        ],
        description=(
            "Open recommendations as one CSV per action type ($FLYWHEEL_HOME/actions); a list "
            "as its members outside the holdout."
        ),
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
