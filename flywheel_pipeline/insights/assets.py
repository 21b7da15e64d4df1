"""Insight assets: thin wrappers that read the warehouse, call a model, write schema `ml`.

The modelling lives in one module per insight beside this file; each is tested alone.
"""

import dagster as dg
import pandas as pd

from flywheel_pipeline.insights.content_gaps import find_content_gaps, with_content_gaps
from flywheel_pipeline.insights.lead_scoring import score_leads
from flywheel_pipeline.insights.topics import discover_topics
from flywheel_pipeline.metadata import frame_metadata
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    read_relation,
    replace_table,
)


def _runs_spec(model: str, deps: list[list[str]]) -> dg.AssetSpec:
    """Each model's evaluation rows get their own table; flywheel.model_runs unions them."""
    return dg.AssetSpec(
        ["ml", f"{model}_runs"],
        deps=deps,
        description=f"Holdout metrics of the {model} model beside a naive baseline.",
        kinds={"scikitlearn", "duckdb"},
    )


def _model_quality(model_runs) -> dict[str, dg.MetadataValue]:
    return {
        f"{row.metric}": dg.MetadataValue.text(
            f"{row.value:.3f} (baseline {row.baseline_value:.3f})"
        )
        for row in model_runs.itertuples()
        if pd.notna(row.value) and pd.notna(row.baseline_value)
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["ml", "conversation_topic_assignments"],
            deps=[["intermediate", "int_conversations__texts"]],
            description="The discovered topic of every conversation.",
            kinds={"scikitlearn", "duckdb"},
        ),
        dg.AssetSpec(
            ["ml", "conversation_topics"],
            deps=[
                ["intermediate", "int_conversations__texts"],
                ["staging", "stg_ga4__pages"],
                ["staging", "stg_gsc__search_analytics"],
            ],
            description="Topics with readable labels, top terms and content-gap evidence.",
            kinds={"scikitlearn", "duckdb"},
        ),
        _runs_spec("conversation_topics", [["intermediate", "int_conversations__texts"]]),
    ],
    group_name="engage",
    pool=WAREHOUSE_POOL,
    name="conversation_topic_model",
)
def conversation_topic_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """TF-IDF + k-means topics, and which topics no page or query answers (content gaps)."""
    with warehouse.get_connection() as conn:
        texts = read_relation(conn, "intermediate.int_conversations__texts")
        pages = read_relation(conn, "staging.stg_ga4__pages")
        queries = read_relation(conn, "staging.stg_gsc__search_analytics").rename(
            columns={"search_query": "query", "page_url": "page"}
        )
        result = discover_topics(texts)
        gaps = find_content_gaps(result.topics, pages, queries)
        topics = with_content_gaps(result.topics, gaps)
        replace_table(conn, "ml.conversation_topic_assignments", result.assignments)
        replace_table(conn, "ml.conversation_topics", topics)
        replace_table(conn, "ml.conversation_topics_runs", result.model_runs)
    context.log.info(f"{result.n_topics} topics by {result.method} through {result.data_through}")
    yield dg.MaterializeResult(
        asset_key=["ml", "conversation_topic_assignments"],
        metadata=frame_metadata(result.assignments, method=result.method),
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "conversation_topics_runs"], metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "conversation_topics"],
        metadata=frame_metadata(
            topics.sort_values("conversations", ascending=False),
            preview_rows=20,
            content_gaps=int(topics["is_content_gap"].sum()),
            **_model_quality(result.model_runs),
        ),
    )


_LEAD_INPUTS = [
    ["staging", "stg_crm__contacts"],
    ["staging", "stg_conversations__conversations"],
    ["staging", "stg_crm__orders"],
]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["ml", "lead_scores"],
            deps=_LEAD_INPUTS,
            description="Calibrated P(open lead becomes a customer within 90 days).",
            kinds={"scikitlearn", "duckdb"},
        ),
        _runs_spec("lead_scoring", _LEAD_INPUTS),
    ],
    group_name="engage",
    pool=WAREHOUSE_POOL,
    name="lead_scoring_model",
)
def lead_scoring_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Scores every open lead with a calibrated classifier trained on a time split."""
    with warehouse.get_connection() as conn:
        contacts = read_relation(conn, "staging.stg_crm__contacts")
        conversations = read_relation(conn, "staging.stg_conversations__conversations")
        orders = read_relation(conn, "staging.stg_crm__orders")
        result = score_leads(contacts, conversations, orders)
        replace_table(conn, "ml.lead_scores", result.lead_scores)
        replace_table(conn, "ml.lead_scoring_runs", result.model_runs)
    context.log.info(f"lead scoring by {result.method} through {result.data_through}")
    yield dg.MaterializeResult(
        asset_key=["ml", "lead_scoring_runs"], metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "lead_scores"],
        metadata=frame_metadata(
            result.lead_scores.sort_values("lead_score", ascending=False),
            method=result.method,
            **_model_quality(result.model_runs),
        ),
    )


def build_defs() -> dg.Definitions:
    return dg.Definitions(assets=[conversation_topic_model, lead_scoring_model])
