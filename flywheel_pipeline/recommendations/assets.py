"""The recommendation assets: rank every action type together by expected impact (with the
members of the list recommendations and their random holdout), and measure the outcome of the
done ones."""

import dagster as dg
import pandas as pd

from flywheel_pipeline import tables
from flywheel_pipeline.metadata import frame_metadata
from flywheel_pipeline.recommendations.candidates import build_recommendations, with_decided_history
from flywheel_pipeline.recommendations.inputs import CANDIDATE_READS, as_of, read_inputs
from flywheel_pipeline.recommendations.list_inputs import read_listed
from flywheel_pipeline.recommendations.lists import (
    DEFAULT_HOLDOUT_SHARE,
    TARGET_COLUMNS,
    acted_members,
    targets_with_decided_history,
)
from flywheel_pipeline.recommendations.outcome_inputs import OUTCOME_READS, read_outcome_inputs
from flywheel_pipeline.recommendations.outcomes import measure_outcomes
from flywheel_pipeline.settings import Settings
from flywheel_pipeline.tables import deps_of, write_table
from flywheel_pipeline.warehouse import (
    MODEL_MEMORY_LIMIT,
    WAREHOUSE_POOL,
    WarehouseResource,
    memory_limit,
    read_relation_if_exists,
)


class RecommendationConfig(dg.Config):
    cycle: int = 0  # the closed-loop simulation numbers its turns of the wheel
    # Share of every list kept as a random holdout; None: the FLYWHEEL_HOLDOUT_SHARE setting
    # (resource ``recommendation_settings``). A run may override it (0 ≤ share < 1).
    holdout_share: float | None = None


class RecommendationSettings(dg.ConfigurableResource):
    """The settings of the recommendation assets (from :class:`Settings`)."""

    holdout_share: float = DEFAULT_HOLDOUT_SHARE


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            tables.RECOMMENDATION_CANDIDATES.asset_key,
            deps=deps_of(*CANDIDATE_READS),
            description=tables.RECOMMENDATION_CANDIDATES.description,
            kinds={"python", "duckdb"},
        ),
        dg.AssetSpec(
            tables.RECOMMENDATION_TARGETS.asset_key,
            deps=deps_of(*CANDIDATE_READS),
            description=tables.RECOMMENDATION_TARGETS.description,
            kinds={"python", "duckdb"},
        ),
    ],
    group_name="flywheel",
    pool=WAREHOUSE_POOL,
)
def recommendation_candidates(
    config: RecommendationConfig,
    warehouse: WarehouseResource,
    recommendation_settings: RecommendationSettings,
):
    """Proposed actions with evidence, expected impact in one unit, priority and confidence,
    and the members of the list recommendations with their holdout."""
    share = config.holdout_share
    share = recommendation_settings.holdout_share if share is None else share
    with warehouse.get_connection() as conn, memory_limit(conn, MODEL_MEMORY_LIMIT):
        data_through = as_of(conn)
        inputs = read_inputs(conn, data_through)
        decisions = read_relation_if_exists(conn, tables.DECISIONS.relation)
        previous = read_relation_if_exists(conn, tables.RECOMMENDATION_CANDIDATES.relation)
        previous_targets = read_relation_if_exists(conn, tables.RECOMMENDATION_TARGETS.relation)
        if previous_targets is not None and not set(TARGET_COLUMNS) <= set(previous_targets):
            previous_targets = None
        acted = acted_members(previous_targets, decisions, inputs.get("deals"), previous)
        inputs |= read_listed(conn, data_through, acted["contact"])
        fresh = build_recommendations(
            data_through=data_through,
            cycle=config.cycle,
            holdout_share=share,
            acted=acted,
            **inputs,
        )
        decided = [] if decisions is None else decisions["recommendation_id"]
        candidates = with_decided_history(fresh.candidates, previous, decided)
        targets = targets_with_decided_history(fresh.targets, previous_targets, decided)
        write_table(conn, tables.RECOMMENDATION_CANDIDATES, candidates)
        write_table(conn, tables.RECOMMENDATION_TARGETS, targets)
    yield dg.MaterializeResult(
        asset_key=tables.RECOMMENDATION_CANDIDATES.asset_key,
        metadata=frame_metadata(
            candidates.sort_values("priority"),
            preview_rows=10,
            by_type=dg.MetadataValue.json(candidates["type"].value_counts().to_dict()),
            data_through=dg.MetadataValue.text(str(data_through)),
            proposed_now=dg.MetadataValue.int(len(fresh.candidates)),
            decided_earlier=dg.MetadataValue.int(len(candidates) - len(fresh.candidates)),
        ),
    )
    yield dg.MaterializeResult(
        asset_key=tables.RECOMMENDATION_TARGETS.asset_key,
        metadata=frame_metadata(
            targets,
            preview_rows=10,
            holdout_share=dg.MetadataValue.float(float(share)),
            holdout_members=dg.MetadataValue.int(int(targets["holdout"].sum())),
            excluded_contacts=dg.MetadataValue.int(len(acted["contact"])),
            excluded_deals=dg.MetadataValue.int(len(acted["deal"])),
        ),
    )


_ACTED_COLUMNS = ["recommendation_id", "type", "target_type", "target_id", "accepted_at", "done_at"]


def acted_recommendations(
    candidates: pd.DataFrame | None, decisions: pd.DataFrame | None
) -> pd.DataFrame | None:
    """The candidates someone accepted or did, with when (``None`` without either table)."""
    if candidates is None or decisions is None:
        return None
    acted = candidates.merge(decisions, on="recommendation_id")
    acted = acted[acted["accepted_at"].notna() | acted["done_at"].notna()]
    return acted[_ACTED_COLUMNS].reset_index(drop=True)


@dg.asset(
    key=tables.RECOMMENDATION_OUTCOMES.asset_key,
    deps=deps_of(*OUTCOME_READS),
    group_name="flywheel",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def recommendation_outcomes(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Measured outcome of every done recommendation: against comparable untouched targets
    (difference in differences), or a list's treated members against its random holdout,
    with a 95 % interval; see flywheel_pipeline/recommendations/outcomes.py."""
    with warehouse.get_connection() as conn:
        acted = acted_recommendations(
            read_relation_if_exists(conn, tables.RECOMMENDATION_CANDIDATES.relation),
            read_relation_if_exists(conn, tables.DECISIONS.relation),
        )
        done = 0 if acted is None else int(acted["done_at"].notna().sum())
        inputs = read_outcome_inputs(conn) if done else {}
        outcomes = measure_outcomes(acted, **inputs)
        write_table(conn, tables.RECOMMENDATION_OUTCOMES, outcomes)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            outcomes,
            preview_rows=10,
            done_recommendations=dg.MetadataValue.int(done),
            measured_recommendations=dg.MetadataValue.int(outcomes["recommendation_id"].nunique()),
            by_metric=dg.MetadataValue.json(
                {str(k): int(v) for k, v in outcomes["metric"].value_counts().items()}
            ),
        )
    )


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    share = DEFAULT_HOLDOUT_SHARE if settings is None else settings.flywheel_holdout_share
    return dg.Definitions(
        assets=[recommendation_candidates, recommendation_outcomes],
        resources={"recommendation_settings": RecommendationSettings(holdout_share=share)},
    )
