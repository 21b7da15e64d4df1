"""Insight assets: thin wrappers that read the warehouse, call a model, write schema `ml`.

The modelling lives in one module per insight beside this file; each is tested alone.
"""

import dagster as dg
import pandas as pd
import pyarrow as pa

from flywheel_pipeline.insights._common import Serving
from flywheel_pipeline.insights.content_gaps import find_content_gaps, with_content_gaps
from flywheel_pipeline.insights.customer_value import value_customers
from flywheel_pipeline.insights.deal_scoring import score_deals
from flywheel_pipeline.insights.lead_scoring import score_leads
from flywheel_pipeline.insights.runs import record_runs
from flywheel_pipeline.insights.search_opportunities import (
    HISTORY_DAYS,
    SearchOpportunities,
    find_search_opportunities,
)
from flywheel_pipeline.insights.topics import discover_topics
from flywheel_pipeline.metadata import frame_metadata
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    read_relation,
    read_relation_if_exists,
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
    """Each holdout metric and its baseline as numbers, so that the Dagster UI plots them
    materialisation after materialisation (quality over time)."""
    quality: dict[str, dg.MetadataValue] = {}
    for row in model_runs.itertuples():
        if pd.notna(row.value) and pd.notna(row.baseline_value):
            quality[row.metric] = dg.MetadataValue.float(float(row.value))
            quality[f"{row.metric}_baseline"] = dg.MetadataValue.float(float(row.baseline_value))
    return quality


def _serving_metadata(serving: Serving | None) -> dict[str, dg.MetadataValue]:
    """Which scorer publishes (the model, its naive baseline, or the cold-start rules) and why."""
    if serving is None:
        return {}
    return {
        "served_by": dg.MetadataValue.text(serving.served_by),
        "serving_reason": dg.MetadataValue.text(serving.reason),
    }


def _serving_log(model: str, result) -> str:
    reason = result.serving.reason if result.serving is not None else "nothing to score"
    return f"{model} by {result.method} through {result.data_through}: {reason}"


_TOPIC_INPUTS = [
    ["intermediate", "int_conversations__texts"],
    # catalogue words (product pages, product queries) must not define a topic
    ["staging", "stg_ga4__pages"],
    ["intermediate", "int_search__query_pages_daily"],
]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["ml", "conversation_topic_assignments"],
            deps=_TOPIC_INPUTS,
            description=(
                "The intent topic of every conversation (NULL: no topic fits); ids are kept "
                "across retrains."
            ),
            kinds={"scikitlearn", "duckdb"},
        ),
        dg.AssetSpec(
            ["ml", "conversation_topics"],
            deps=_TOPIC_INPUTS,
            description=(
                "Customer intents: a representative question, key terms, volume and 28-day "
                "trend (most common / fastest rising), and content-gap evidence."
            ),
            kinds={"scikitlearn", "duckdb"},
        ),
        _runs_spec("conversation_topics", _TOPIC_INPUTS),
    ],
    group_name="engage",
    pool=WAREHOUSE_POOL,
    name="conversation_topic_model",
)
def conversation_topic_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Intent topics (entities out, micro-clusters merged where modularity peaks; ids matched
    to the previous run's), and which topics no page of the site answers (content gaps)."""
    with warehouse.get_connection() as conn:
        texts = read_relation(conn, "intermediate.int_conversations__texts")
        pages = read_relation(conn, "staging.stg_ga4__pages")
        # per day × query × page: country and device rows summed by dbt
        queries = read_relation(conn, "intermediate.int_search__query_pages_daily").rename(
            columns={"search_query": "query", "page_url": "page"}
        )
        # the previous run, read before it is replaced, so that topics keep their ids
        result = discover_topics(
            texts,
            pages=pages,
            queries=queries[["query", "page"]].drop_duplicates(),
            previous_assignments=read_relation_if_exists(conn, "ml.conversation_topic_assignments"),
            previous_topics=read_relation_if_exists(conn, "ml.conversation_topics"),
        )
        topic_texts = result.assignments[["conversation_id", "topic_id"]].merge(
            texts[["conversation_id", "user_text"]], on="conversation_id"
        )
        gaps = find_content_gaps(
            result.topics,
            pages,
            queries,
            topic_texts=topic_texts.rename(columns={"user_text": "text"})[["topic_id", "text"]],
        )
        topics = with_content_gaps(result.topics, gaps)
        replace_table(conn, "ml.conversation_topic_assignments", result.assignments)
        replace_table(conn, "ml.conversation_topics", topics)
        record_runs(conn, "conversation_topics", result.model_runs)
    context.log.info(
        f"{result.n_topics} topics by {result.method} through {result.data_through}"
        f" ({result.details.get('unassigned_share', 0):.1%} of conversations unassigned)"
    )
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
    """Scores every open lead with a calibrated classifier trained on a time split, or with
    the channel conversion rates when the classifier does not beat them on the holdout."""
    with warehouse.get_connection() as conn:
        contacts = read_relation(conn, "staging.stg_crm__contacts")
        conversations = read_relation(conn, "staging.stg_conversations__conversations")
        orders = read_relation(conn, "staging.stg_crm__orders")
        result = score_leads(contacts, conversations, orders)
        replace_table(conn, "ml.lead_scores", result.lead_scores)
        record_runs(conn, "lead_scoring", result.model_runs)
    context.log.info(_serving_log("lead scoring", result))
    yield dg.MaterializeResult(
        asset_key=["ml", "lead_scoring_runs"], metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "lead_scores"],
        metadata=frame_metadata(
            result.lead_scores.sort_values("lead_score", ascending=False),
            method=result.method,
            **_serving_metadata(result.serving),
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
    """Deal-stage predictor: weekly deal snapshots, a logistic model anchored on the stage
    win rates, time split; the stage win rates serve unless the model beats them on the
    holdout's AUC and Brier score."""
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
        record_runs(conn, "deal_scoring", result.model_runs)
    context.log.info(_serving_log("deal scoring", result))
    yield dg.MaterializeResult(
        asset_key=["ml", "deal_scoring_runs"], metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "deal_scores"],
        metadata=frame_metadata(
            result.deal_scores.sort_values("win_probability", ascending=False),
            method=result.method,
            labelled_deals=dg.MetadataValue.int(int(result.details.get("labelled_deals", 0))),
            **_serving_metadata(result.serving),
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
    """(M)BG/NBD + Gamma-Gamma by maximum likelihood, evaluated on the last 90 days; the
    naive repeat rate serves unless the model beats its holdout correlation."""
    with warehouse.get_connection() as conn:
        result = value_customers(
            read_relation(conn, "staging.stg_crm__orders"), _read_persons(conn)
        )
        replace_table(conn, "ml.customer_value", result.customer_value)
        record_runs(conn, "customer_value", result.model_runs)
    context.log.info(_serving_log("customer value", result))
    values = result.customer_value
    yield dg.MaterializeResult(
        asset_key=["ml", "customer_value_runs"], metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "customer_value"],
        metadata=frame_metadata(
            values.sort_values("predicted_clv_365d", ascending=False),
            method=result.method,
            **_serving_metadata(result.serving),
            expected_orders_90d=dg.MetadataValue.float(float(values["predicted_orders_90d"].sum())),
            expected_revenue_365d=dg.MetadataValue.float(float(values["predicted_clv_365d"].sum())),
            **_model_quality(result.model_runs),
        ),
    )


# Per row (day × query × page × country × device): each row's own position, so a query-page
# ranking on page one in one country and on page two in another is not judged at a mean
_SEARCH_ROWS = "staging.stg_gsc__search_analytics"
_SEARCH_INPUTS = [_SEARCH_ROWS.split(".")]

# Warehouse types of the search tables, so that an empty table (no Search Console data) keeps
# the types docs/contracts.md states instead of DuckDB's NULL type.
_DATE = pd.ArrowDtype(pa.date32())
_OPPORTUNITY_TYPES = {
    "query": "string",
    "page": "string",
    "opportunity_type": "string",
    "impressions_28d": "int64",
    "clicks_28d": "int64",
    "ctr": "float64",
    "avg_position": "float64",
    "expected_ctr": "float64",
    "target_position": "Int64",
    "estimated_click_gain_28d": "float64",
    "p_value": "float64",
    "data_through": _DATE,
}
_CURVE_TYPES = {
    "position": "int64",
    "expected_ctr": "float64",
    "prior_ctr": "float64",
    "impressions": "int64",
    "data_through": _DATE,
}


def _read_search_rows(conn) -> pd.DataFrame:
    """The last HISTORY_DAYS of Search Console rows: the model looks no further back, and the
    history need not travel into pandas."""
    return conn.execute(
        "select report_date, search_query, page_url, country, device, clicks, impressions, "
        f"avg_position from {_SEARCH_ROWS} "
        f"where report_date > (select max(report_date) from {_SEARCH_ROWS}) - ?",
        [HISTORY_DAYS],
    ).df()


def _search_metadata(result: SearchOpportunities) -> dict[str, dg.MetadataValue]:
    found = result.opportunities
    counts = found["opportunity_type"].value_counts()
    serving = result.serving
    meta = {
        "ctr_underperformers": dg.MetadataValue.int(int(counts.get("ctr_underperformer", 0))),
        "striking_distance": dg.MetadataValue.int(int(counts.get("striking_distance", 0))),
        # a query-page can be both types: its larger gain counts once
        "estimated_click_gain_28d": dg.MetadataValue.float(
            float(found.groupby(["query", "page"])["estimated_click_gain_28d"].max().sum())
        ),
        "query_pages_tested": dg.MetadataValue.int(result.tested),
        "brand_query_pages_set_aside": dg.MetadataValue.int(result.brand_pairs),
        "cold_start": dg.MetadataValue.bool(result.cold_start),
        "data_through": dg.MetadataValue.text(str(result.data_through)),
    }
    meta.update(_serving_metadata(serving))
    if result.null is not None:
        # log-sd of an ordinary snippet's CTR around the curve, on page one
        meta["ordinary_ctr_log_sd"] = dg.MetadataValue.float(
            float(result.null.dispersion.base) ** 0.5
        )
    return meta


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["ml", "search_opportunities"],
            deps=_SEARCH_INPUTS,
            description=(
                "Striking-distance queries and CTR under-performers (query × page × "
                "opportunity_type) with their estimated click gain over 28 days."
            ),
            kinds={"scikitlearn", "duckdb"},
        ),
        dg.AssetSpec(
            ["ml", "search_ctr_curve"],
            deps=_SEARCH_INPUTS,
            description="The site's expected CTR by position (1–20) beside the public prior.",
            kinds={"scikitlearn", "duckdb"},
        ),
        _runs_spec("search_ctr_curve", _SEARCH_INPUTS),
    ],
    group_name="attract",
    pool=WAREHOUSE_POOL,
    name="search_opportunity_model",
)
def search_opportunity_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """The site's CTR-by-position curve against the public prior (champion/challenger on a
    time split; the winner serves), CTR under-performers (significant after
    Benjamini–Hochberg, brand queries aside) and striking-distance queries with their gain."""
    with warehouse.get_connection() as conn:
        result = find_search_opportunities(_read_search_rows(conn))
        opportunities = result.opportunities.astype(_OPPORTUNITY_TYPES)
        curve = result.curve.astype(_CURVE_TYPES)
        replace_table(conn, "ml.search_opportunities", opportunities)
        replace_table(conn, "ml.search_ctr_curve", curve)
        record_runs(conn, "search_ctr_curve", result.model_runs)
    reason = result.serving.reason if result.serving else "no Search Console data"
    context.log.info(
        f"{len(opportunities)} search opportunities through {result.data_through}; {reason}"
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "search_ctr_curve_runs"], metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "search_ctr_curve"],
        metadata=frame_metadata(
            result.curve,
            preview_rows=len(result.curve),
            cold_start=dg.MetadataValue.bool(result.cold_start),
            **_serving_metadata(result.serving),
            **_model_quality(result.model_runs),
        ),
    )
    yield dg.MaterializeResult(
        asset_key=["ml", "search_opportunities"],
        metadata=frame_metadata(result.opportunities, preview_rows=10, **_search_metadata(result)),
    )


def build_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[
            conversation_topic_model,
            lead_scoring_model,
            deal_scoring_model,
            customer_value_model,
            search_opportunity_model,
        ]
    )
