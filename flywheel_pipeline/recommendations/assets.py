"""The recommendations asset: rank every action type together by expected impact."""

import dagster as dg
import pandas as pd

from flywheel_pipeline.metadata import frame_metadata
from flywheel_pipeline.recommendations.candidates import build_candidates
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    read_relation,
    replace_table,
)


class RecommendationConfig(dg.Config):
    cycle: int = 0  # the closed-loop simulation numbers its turns of the wheel


@dg.asset(
    key=["ml", "recommendation_candidates"],
    deps=[
        ["ml", "conversation_topics"],
        ["ml", "conversation_topic_assignments"],
        ["ml", "lead_scores"],
        ["ml", "lead_scoring_runs"],
        ["staging", "stg_conversations__conversations"],
        ["staging", "stg_crm__orders"],
        ["staging", "stg_crm__contacts"],
    ],
    group_name="flywheel",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def recommendation_candidates(
    config: RecommendationConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Proposed actions with evidence, expected impact in one unit, priority and confidence."""
    with warehouse.get_connection() as conn:
        topics = read_relation(conn, "ml.conversation_topics")
        lead_scores = read_relation(conn, "ml.lead_scores")
        data_through = pd.concat([topics["data_through"], lead_scores["data_through"]]).max()
        candidates = build_candidates(
            data_through=data_through,
            cycle=config.cycle,
            topics=topics,
            assignments=read_relation(conn, "ml.conversation_topic_assignments"),
            conversations=read_relation(conn, "staging.stg_conversations__conversations"),
            lead_scores=lead_scores,
            orders=read_relation(conn, "staging.stg_crm__orders"),
            contacts=read_relation(conn, "staging.stg_crm__contacts"),
            model_runs=read_relation(conn, "ml.lead_scoring_runs"),
        )
        replace_table(conn, "ml.recommendation_candidates", candidates)
    return dg.MaterializeResult(
        metadata=frame_metadata(
            candidates.sort_values("priority"),
            preview_rows=10,
            by_type=dg.MetadataValue.json(candidates["type"].value_counts().to_dict()),
        )
    )


# Declared so lineage and groups are right today; outcome measurement (SPEC §7: difference in
# differences against untouched targets) will materialise it. Until then the marts that read
# it (flywheel.recommendation_outcomes, flywheel.momentum) see it as empty.
recommendation_outcomes = dg.AssetSpec(
    ["ml", "recommendation_outcomes"],
    group_name="flywheel",
    description="Measured outcome of each done recommendation (not produced yet).",
    kinds={"duckdb"},
)


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=[recommendation_candidates, recommendation_outcomes])
