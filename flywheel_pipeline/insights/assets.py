"""Insight assets: thin wrappers that read the warehouse, call a model, write schema `ml`.

The modelling lives in one module per insight beside this file; each is tested alone.
"""

import dagster as dg
import pandas as pd

from flywheel_pipeline.insights.content_gaps import find_content_gaps, with_content_gaps
from flywheel_pipeline.insights.customer_value import value_customers
from flywheel_pipeline.insights.deal_scoring import score_deals
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


def _read_persons(conn) -> pd.DataFrame:
    """contact_id → person_id (the surviving contact_id) from the identity spine."""
    return conn.execute(
        "select identifier_value as contact_id, person_id "
        "from intermediate.int_identity__persons where identifier_type = 'contact_id'"
    ).df()


_DEAL_INPUTS = [
    ["staging", "stg_crm__deals"],
    ["staging", "stg_crm__deal_stage_history"],
    ["staging", "stg_crm__contacts"],
    ["intermediate", "int_conversations__texts"],
    ["intermediate", "int_identity__persons"],
]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["ml", "deal_scores"],
            deps=_DEAL_INPUTS,
            description="Calibrated P(win) of every deal open at data_through.",
            kinds={"scikitlearn", "duckdb"},
        ),
        _runs_spec("deal_scoring", _DEAL_INPUTS),
    ],
    group_name="engage",
    pool=WAREHOUSE_POOL,
    name="deal_scoring_model",
)
def deal_scoring_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Deal-stage predictor: weekly deal snapshots, calibrated classifier, time split."""
    with warehouse.get_connection() as conn:
        result = score_deals(
            read_relation(conn, "staging.stg_crm__deals"),
            read_relation(conn, "staging.stg_crm__deal_stage_history"),
            read_relation(conn, "staging.stg_crm__contacts"),
            # the person's surviving contact_id, so conversations found by email count too
            conn.execute(
                "select contact_id, started_at from intermediate.int_conversations__texts "
                "where contact_id is not null"
            ).df(),
            _read_persons(conn),
        )
        replace_table(conn, "ml.deal_scores", result.deal_scores)
        replace_table(conn, "ml.deal_scoring_runs", result.model_runs)
    context.log.info(f"deal scoring by {result.method} through {result.data_through}")
    yield dg.MaterializeResult(
        asset_key=["ml", "deal_scoring_runs"], metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "deal_scores"],
        metadata=frame_metadata(
            result.deal_scores.sort_values("win_probability", ascending=False),
            method=result.method,
            labelled_deals=dg.MetadataValue.int(int(result.details.get("labelled_deals", 0))),
            **_model_quality(result.model_runs),
        ),
    )


_VALUE_INPUTS = [["staging", "stg_crm__orders"], ["intermediate", "int_identity__persons"]]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["ml", "customer_value"],
            deps=_VALUE_INPUTS,
            description="Expected orders (90 days), P(alive) and 365-day CLV per customer.",
            kinds={"scipy", "duckdb"},
        ),
        _runs_spec("customer_value", _VALUE_INPUTS),
    ],
    group_name="delight",
    pool=WAREHOUSE_POOL,
    name="customer_value_model",
)
def customer_value_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """(M)BG/NBD + Gamma-Gamma by maximum likelihood, evaluated on the last 90 days."""
    with warehouse.get_connection() as conn:
        result = value_customers(
            read_relation(conn, "staging.stg_crm__orders"), _read_persons(conn)
        )
        replace_table(conn, "ml.customer_value", result.customer_value)
        replace_table(conn, "ml.customer_value_runs", result.model_runs)
    context.log.info(f"customer value by {result.method} through {result.data_through}")
    values = result.customer_value
    yield dg.MaterializeResult(
        asset_key=["ml", "customer_value_runs"], metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "customer_value"],
        metadata=frame_metadata(
            values.sort_values("predicted_clv_365d", ascending=False),
            method=result.method,
            expected_orders_90d=dg.MetadataValue.float(float(values["predicted_orders_90d"].sum())),
            expected_revenue_365d=dg.MetadataValue.float(float(values["predicted_clv_365d"].sum())),
            **_model_quality(result.model_runs),
        ),
    )


def build_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[
            conversation_topic_model,
            lead_scoring_model,
            deal_scoring_model,
            customer_value_model,
        ]
    )
