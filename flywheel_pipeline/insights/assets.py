"""Insight assets: thin wrappers that read the warehouse, call a model, write schema `ml`.

The modelling lives in one module per insight beside this file; each is tested alone.
"""

from collections.abc import Mapping

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline import tables
from flywheel_pipeline.insights import (
    customer_value,
    deal_scoring,
    lead_scoring,
    search_opportunities,
    topics,
)
from flywheel_pipeline.insights._common import Serving
from flywheel_pipeline.insights.automation import retrain, weekly_retrain_schedule
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
from flywheel_pipeline.tables import Table, deps_of, write_table
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    read_relation,
    read_relation_if_exists,
)


def _spec(table: Table, reads: tuple[Table, ...], kinds: set[str]) -> dg.AssetSpec:
    return dg.AssetSpec(
        table.asset_key, deps=deps_of(*reads), description=table.description, kinds=kinds
    )


def _record(
    conn: duckdb.DuckDBPyConnection, model: str, runs: pd.DataFrame, kinds: Mapping[str, str]
) -> None:
    """Append the run to its ml.<model>_runs table, checked against the registry first."""
    record_runs(conn, model, tables.RUNS[model].conform(runs), kinds)


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


# What each asset reads upstream (its deps); an asset's own tables, read back for continuity
# (e.g. topic ids kept across retrains), are not deps of it.
TOPIC_READS = (
    tables.CONVERSATION_TEXTS,
    # catalogue words (product pages, product queries) must not define a topic
    tables.GA4_PAGES,
    tables.QUERY_PAGES_DAILY,
)


@dg.multi_asset(
    specs=[
        _spec(tables.CONVERSATION_TOPIC_ASSIGNMENTS, TOPIC_READS, {"scikitlearn", "duckdb"}),
        _spec(tables.CONVERSATION_TOPICS, TOPIC_READS, {"scikitlearn", "duckdb"}),
        _spec(tables.CONVERSATION_TOPICS_RUNS, TOPIC_READS, {"scikitlearn", "duckdb"}),
    ],
    group_name="engage",
    pool=WAREHOUSE_POOL,
    name="conversation_topic_model",
)
def conversation_topic_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Intent topics (entities out, micro-clusters merged where modularity peaks; ids matched
    to the previous run's), and which topics no page of the site answers (content gaps)."""
    with warehouse.get_connection() as conn:
        texts = read_relation(conn, tables.CONVERSATION_TEXTS.relation)
        pages = read_relation(conn, tables.GA4_PAGES.relation)
        # per day × query × page: country and device rows summed by dbt
        queries = read_relation(conn, tables.QUERY_PAGES_DAILY.relation).rename(
            columns={"search_query": "query", "page_url": "page"}
        )
        # the previous run, read before it is replaced, so that topics keep their ids
        result = discover_topics(
            texts,
            pages=pages,
            queries=queries[["query", "page"]].drop_duplicates(),
            previous_assignments=read_relation_if_exists(
                conn, tables.CONVERSATION_TOPIC_ASSIGNMENTS.relation
            ),
            previous_topics=read_relation_if_exists(conn, tables.CONVERSATION_TOPICS.relation),
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
        topic_table = with_content_gaps(result.topics, gaps)
        write_table(conn, tables.CONVERSATION_TOPIC_ASSIGNMENTS, result.assignments)
        write_table(conn, tables.CONVERSATION_TOPICS, topic_table)
        _record(conn, topics.MODEL_NAME, result.model_runs, topics.METRIC_KINDS)
    context.log.info(
        f"{result.n_topics} topics by {result.method} through {result.data_through}"
        f" ({result.details.get('unassigned_share', 0):.1%} of conversations unassigned)"
    )
    yield dg.MaterializeResult(
        asset_key=tables.CONVERSATION_TOPIC_ASSIGNMENTS.asset_key,
        metadata=frame_metadata(result.assignments, method=result.method),
    )
    yield dg.MaterializeResult(
        asset_key=tables.CONVERSATION_TOPICS_RUNS.asset_key,
        metadata=frame_metadata(result.model_runs),
    )
    yield dg.MaterializeResult(
        asset_key=tables.CONVERSATION_TOPICS.asset_key,
        metadata=frame_metadata(
            topic_table.sort_values("conversations", ascending=False),
            preview_rows=20,
            content_gaps=int(topic_table["is_content_gap"].sum()),
            **_model_quality(result.model_runs),
        ),
    )


LEAD_READS = (tables.CONTACTS, tables.CONVERSATIONS, tables.ORDERS)


@dg.multi_asset(
    specs=[
        _spec(tables.LEAD_SCORES, LEAD_READS, {"scikitlearn", "duckdb"}),
        _spec(tables.LEAD_SCORING_RUNS, LEAD_READS, {"scikitlearn", "duckdb"}),
    ],
    group_name="engage",
    pool=WAREHOUSE_POOL,
    name="lead_scoring_model",
)
def lead_scoring_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Scores every open lead with a calibrated classifier trained on a time split, or with
    the channel conversion rates when the classifier does not beat them on the holdout."""
    with warehouse.get_connection() as conn:
        contacts = read_relation(conn, tables.CONTACTS.relation)
        conversations = read_relation(conn, tables.CONVERSATIONS.relation)
        orders = read_relation(conn, tables.ORDERS.relation)
        result = score_leads(contacts, conversations, orders)
        write_table(conn, tables.LEAD_SCORES, result.lead_scores)
        _record(conn, lead_scoring.MODEL_NAME, result.model_runs, lead_scoring.METRIC_KINDS)
    context.log.info(_serving_log("lead scoring", result))
    yield dg.MaterializeResult(
        asset_key=tables.LEAD_SCORING_RUNS.asset_key, metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=tables.LEAD_SCORES.asset_key,
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
        f"from {tables.IDENTITY_PERSONS.quoted} where identifier_type = 'contact_id'"
    ).df()


DEAL_READS = (
    tables.DEALS,
    tables.DEAL_STAGE_HISTORY,
    tables.CONTACTS,
    tables.CONVERSATION_TEXTS,
    tables.IDENTITY_PERSONS,
)


@dg.multi_asset(
    specs=[
        _spec(tables.DEAL_SCORES, DEAL_READS, {"scikitlearn", "duckdb"}),
        _spec(tables.DEAL_SCORING_RUNS, DEAL_READS, {"scikitlearn", "duckdb"}),
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
            read_relation(conn, tables.DEALS.relation),
            read_relation(conn, tables.DEAL_STAGE_HISTORY.relation),
            read_relation(conn, tables.CONTACTS.relation),
            # the person's surviving contact_id, so conversations found by email count too
            conn.execute(
                f"select contact_id, started_at from {tables.CONVERSATION_TEXTS.quoted} "
                "where contact_id is not null"
            ).df(),
            _read_persons(conn),
        )
        write_table(conn, tables.DEAL_SCORES, result.deal_scores)
        _record(conn, deal_scoring.MODEL_NAME, result.model_runs, deal_scoring.METRIC_KINDS)
    context.log.info(_serving_log("deal scoring", result))
    yield dg.MaterializeResult(
        asset_key=tables.DEAL_SCORING_RUNS.asset_key, metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=tables.DEAL_SCORES.asset_key,
        metadata=frame_metadata(
            result.deal_scores.sort_values("win_probability", ascending=False),
            method=result.method,
            labelled_deals=dg.MetadataValue.int(int(result.details.get("labelled_deals", 0))),
            **_serving_metadata(result.serving),
            **_model_quality(result.model_runs),
        ),
    )


VALUE_READS = (tables.ORDERS, tables.IDENTITY_PERSONS)


@dg.multi_asset(
    specs=[
        _spec(tables.CUSTOMER_VALUE, VALUE_READS, {"scipy", "duckdb"}),
        _spec(tables.CUSTOMER_VALUE_RUNS, VALUE_READS, {"scikitlearn", "duckdb"}),
    ],
    group_name="delight",
    pool=WAREHOUSE_POOL,
    name="customer_value_model",
)
def customer_value_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """(M)BG/NBD + Gamma-Gamma by maximum likelihood, evaluated on the last 90 days; the
    naive repeat rate serves unless the model beats its holdout correlation."""
    with warehouse.get_connection() as conn:
        result = value_customers(read_relation(conn, tables.ORDERS.relation), _read_persons(conn))
        write_table(conn, tables.CUSTOMER_VALUE, result.customer_value)
        _record(conn, customer_value.MODEL_NAME, result.model_runs, customer_value.METRIC_KINDS)
    context.log.info(_serving_log("customer value", result))
    values = result.customer_value
    yield dg.MaterializeResult(
        asset_key=tables.CUSTOMER_VALUE_RUNS.asset_key, metadata=frame_metadata(result.model_runs)
    )
    yield dg.MaterializeResult(
        asset_key=tables.CUSTOMER_VALUE.asset_key,
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
SEARCH_READS = (tables.SEARCH_ROWS,)


def _read_search_rows(conn) -> pd.DataFrame:
    """The last HISTORY_DAYS of Search Console rows: the model looks no further back, and the
    history need not travel into pandas."""
    rows = tables.SEARCH_ROWS.quoted
    return conn.execute(
        "select report_date, search_query, page_url, country, device, clicks, impressions, "
        f"avg_position from {rows} "
        f"where report_date > (select max(report_date) from {rows}) - ?",
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
        _spec(tables.SEARCH_OPPORTUNITIES, SEARCH_READS, {"scikitlearn", "duckdb"}),
        _spec(tables.SEARCH_CTR_CURVE, SEARCH_READS, {"scikitlearn", "duckdb"}),
        _spec(tables.SEARCH_CTR_CURVE_RUNS, SEARCH_READS, {"scikitlearn", "duckdb"}),
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
        # typed by the registry, so that an empty table (no Search Console data) keeps the
        # contract's types instead of DuckDB's NULL type
        write_table(conn, tables.SEARCH_OPPORTUNITIES, result.opportunities)
        write_table(conn, tables.SEARCH_CTR_CURVE, result.curve)
        _record(
            conn,
            search_opportunities.MODEL_NAME,
            result.model_runs,
            search_opportunities.METRIC_KINDS,
        )
    reason = result.serving.reason if result.serving else "no Search Console data"
    context.log.info(
        f"{len(result.opportunities)} search opportunities through {result.data_through}; {reason}"
    )
    yield dg.MaterializeResult(
        asset_key=tables.SEARCH_CTR_CURVE_RUNS.asset_key,
        metadata=frame_metadata(result.model_runs),
    )
    yield dg.MaterializeResult(
        asset_key=tables.SEARCH_CTR_CURVE.asset_key,
        metadata=frame_metadata(
            result.curve,
            preview_rows=len(result.curve),
            cold_start=dg.MetadataValue.bool(result.cold_start),
            **_serving_metadata(result.serving),
            **_model_quality(result.model_runs),
        ),
    )
    yield dg.MaterializeResult(
        asset_key=tables.SEARCH_OPPORTUNITIES.asset_key,
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
        ],
        jobs=[retrain],
        schedules=[weekly_retrain_schedule],
    )
