"""Insight assets: thin wrappers that read the warehouse, call a model, write schema `ml`.

The modelling lives in one module per insight beside this file; each is tested alone.
"""

from collections.abc import Iterable, Mapping

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
from flywheel_pipeline.insights.content_gaps import (
    find_content_gaps,
    topic_text_sample,
    with_content_gaps,
)
from flywheel_pipeline.insights.customer_summaries import summaries
from flywheel_pipeline.insights.customer_value import value_summaries
from flywheel_pipeline.insights.deal_rows import warehouse_relations as deal_relations
from flywheel_pipeline.insights.deal_scoring import score_deal_rows
from flywheel_pipeline.insights.lead_rows import warehouse_relations as lead_relations
from flywheel_pipeline.insights.lead_scoring import score_lead_rows
from flywheel_pipeline.insights.runs import quality_metadata, record_runs
from flywheel_pipeline.insights.search_opportunities import (
    HISTORY_DAYS,
    SearchOpportunities,
    find_search_opportunities,
)
from flywheel_pipeline.insights.topic_rows import TopicRows
from flywheel_pipeline.insights.topics import discover_topic_rows
from flywheel_pipeline.metadata import frame_metadata
from flywheel_pipeline.tables import (
    Table,
    deps_of,
    frame_batches,
    write_table,
    write_table_in_batches,
)
from flywheel_pipeline.warehouse import (
    BULK_LOAD_MEMORY_LIMIT,
    JOIN_MEMORY_LIMIT,
    MODEL_MEMORY_LIMIT,
    WAREHOUSE_POOL,
    WarehouseResource,
    memory_limit,
    read_relation,
    read_relation_if_exists,
    relation_exists,
)


def _spec(table: Table, reads: tuple[Table, ...], kinds: Iterable[str]) -> dg.AssetSpec:
    return dg.AssetSpec(
        table.asset_key, deps=deps_of(*reads), description=table.description, kinds=set(kinds)
    )


def _record(
    conn: duckdb.DuckDBPyConnection, model: str, runs: pd.DataFrame, kinds: Mapping[str, str]
) -> None:
    """Append the run to its ml.<model>_runs table, checked against the registry first."""
    record_runs(conn, model, tables.RUNS[model].conform(runs), kinds)


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


SCIKIT_LEARN = frozenset({"scikitlearn", "duckdb"})


def _model_asset(
    name: str,
    group: str,
    writes: tuple[Table, ...],
    reads: tuple[Table, ...],
    kinds: Iterable[str] = SCIKIT_LEARN,
):
    """The multi-asset of a model: one spec per table it writes (its outputs and its
    model_runs table), each depending on every table the model reads."""
    return dg.multi_asset(
        specs=[_spec(table, reads, kinds) for table in writes],
        group_name=group,
        pool=WAREHOUSE_POOL,
        name=name,
    )


# What each asset reads upstream (its deps); an asset's own tables, read back for continuity
# (e.g. topic ids kept across retrains), are not deps of it.
TOPIC_READS = (
    tables.CONVERSATION_TEXTS,
    # catalogue words (product pages, product queries) must not define a topic
    tables.GA4_PAGES,
    tables.QUERY_PAGES_DAILY,
)


def _read_query_pages(conn) -> pd.DataFrame:
    """Search Console clicks and impressions per query × page over every day: what names the
    catalogue and what the content gaps weigh, without a row per day."""
    return conn.execute(
        "select search_query as query, page_url as page, sum(clicks) as clicks, "
        f"sum(impressions) as impressions from {tables.QUERY_PAGES_DAILY.quoted} "
        "group by all order by all"
    ).df()


@_model_asset(
    "conversation_topic_model",
    "engage",
    (
        tables.CONVERSATION_TOPIC_ASSIGNMENTS,
        tables.CONVERSATION_TOPICS,
        tables.CONVERSATION_TOPICS_RUNS,
    ),
    TOPIC_READS,
)
def conversation_topic_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Intent topics (entities out, micro-clusters merged where modularity peaks; ids matched
    to the previous run's), and which topics no page of the site answers (content gaps)."""
    with warehouse.get_connection() as conn, memory_limit(conn, MODEL_MEMORY_LIMIT):
        # the conversations numbered in the warehouse beside the topic the previous run gave
        # them (read before it is replaced, so that topics keep their ids): the model fetches
        # its fit samples, scores a batch at a time, and the assignments are written so
        previous = tables.CONVERSATION_TOPIC_ASSIGNMENTS.relation
        rows = TopicRows.prepare(
            conn,
            tables.CONVERSATION_TEXTS.relation,
            previous if relation_exists(conn, previous) else None,
        )
        pages = read_relation(conn, tables.GA4_PAGES.relation)
        queries = _read_query_pages(conn)
        result = discover_topic_rows(
            rows,
            pages=pages,
            queries=queries[["query", "page"]],
            previous_topics=read_relation_if_exists(conn, tables.CONVERSATION_TOPICS.relation),
        )
        # a bounded sample of the conversations (all of them up to MAX_TOPIC_TEXTS)
        sample = topic_text_sample(len(rows))
        topic_texts = pd.DataFrame(
            {"topic_id": topics.topic_ids(result.topic_of[sample]), "text": rows.take(sample)}
        )
        gaps = find_content_gaps(result.topics, pages, queries, topic_texts=topic_texts)
        topic_table = with_content_gaps(result.topics, gaps)
        with memory_limit(conn, BULK_LOAD_MEMORY_LIMIT):
            written = write_table_in_batches(
                conn, tables.CONVERSATION_TOPIC_ASSIGNMENTS, result.assignment_batches()
            )
        write_table(conn, tables.CONVERSATION_TOPICS, topic_table)
        _record(conn, topics.MODEL_NAME, result.model_runs, topics.METRIC_KINDS)
        first = next(result.assignment_batches()).head()
    context.log.info(
        f"{result.n_topics} topics by {result.method} through {result.data_through}"
        f" ({result.details.get('unassigned_share', 0):.1%} of conversations unassigned)"
    )
    yield dg.MaterializeResult(
        asset_key=tables.CONVERSATION_TOPIC_ASSIGNMENTS.asset_key,
        metadata=frame_metadata(
            first,
            method=result.method,
            **{"dagster/row_count": dg.MetadataValue.int(written)},
        ),
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
            **quality_metadata(result.model_runs),
        ),
    )


LEAD_READS = (tables.CONTACTS, tables.CONVERSATIONS, tables.ORDERS)


def _publish(conn, scores: Table, batches: Iterable[pd.DataFrame], module, result) -> int:
    """Write the scores a batch at a time (DuckDB's memory as small as for bulk loads), then
    append the run to its model_runs table; the rows written."""
    with memory_limit(conn, BULK_LOAD_MEMORY_LIMIT):
        written = write_table_in_batches(conn, scores, batches)
    _record(conn, module.MODEL_NAME, result.model_runs, module.METRIC_KINDS)
    return written


def _scored(context, what: str, scores: Table, runs: Table, top, rows: int, result, **extra):
    """Log which scorer serves, then the two materialisations: the runs and the scores (the
    ``top`` ones in the preview, with the holdout quality beside the baseline)."""
    context.log.info(_serving_log(what, result))
    yield dg.MaterializeResult(asset_key=runs.asset_key, metadata=frame_metadata(result.model_runs))
    yield dg.MaterializeResult(
        asset_key=scores.asset_key,
        metadata=frame_metadata(
            top,
            method=result.method,
            **{"dagster/row_count": dg.MetadataValue.int(rows)},
            **_serving_metadata(result.serving),
            **extra,
            **quality_metadata(result.model_runs),
        ),
    )


def _published(conn, scores: Table, frame: pd.DataFrame, by: str, module, result) -> tuple:
    """:func:`_publish` a frame of scores; the best five and the row count for :func:`_scored`."""
    rows = _publish(conn, scores, frame_batches(frame), module, result)
    return frame.nlargest(5, by), rows


@_model_asset(
    "lead_scoring_model", "engage", (tables.LEAD_SCORES, tables.LEAD_SCORING_RUNS), LEAD_READS
)
def lead_scoring_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Scores every open lead with a calibrated classifier trained on a time split, or with
    the channel conversion rates when the classifier does not beat them on the holdout. The
    leads are numbered in the warehouse and scored a batch at a time (insights/lead_rows.py)."""
    with warehouse.get_connection() as conn, memory_limit(conn, MODEL_MEMORY_LIMIT):
        result = score_lead_rows(conn, lead_relations())
        rows = _publish(conn, tables.LEAD_SCORES, result.score_batches(), lead_scoring, result)
        top = conn.execute(
            f"select * from {tables.LEAD_SCORES.quoted} order by lead_score desc, contact_id "
            "limit 5"
        ).df()
    yield from _scored(
        context, "lead scoring", tables.LEAD_SCORES, tables.LEAD_SCORING_RUNS, top, rows, result
    )


DEAL_READS = (
    tables.DEALS,
    tables.DEAL_STAGE_HISTORY,
    tables.CONTACTS,
    tables.CONVERSATION_TEXTS,
    tables.IDENTITY_PERSONS,
)


@_model_asset(
    "deal_scoring_model", "engage", (tables.DEAL_SCORES, tables.DEAL_SCORING_RUNS), DEAL_READS
)
def deal_scoring_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Deal-stage predictor: weekly deal snapshots, a logistic model anchored on the stage
    win rates, time split; the stage win rates serve unless the model beats them on the
    holdout's AUC and Brier score. The deals are replayed into snapshots in the warehouse
    and their features read a batch at a time (insights/deal_rows.py)."""
    with warehouse.get_connection() as conn, memory_limit(conn, MODEL_MEMORY_LIMIT):
        result = score_deal_rows(conn, deal_relations())
        top, rows = _published(
            conn, tables.DEAL_SCORES, result.deal_scores, "win_probability", deal_scoring, result
        )
    yield from _scored(
        context,
        "deal scoring",
        tables.DEAL_SCORES,
        tables.DEAL_SCORING_RUNS,
        top,
        rows,
        result,
        labelled_deals=dg.MetadataValue.int(int(result.details.get("labelled_deals", 0))),
    )


VALUE_READS = (tables.ORDERS, tables.IDENTITY_PERSONS)


@_model_asset(
    "customer_value_model",
    "delight",
    (tables.CUSTOMER_VALUE, tables.CUSTOMER_VALUE_RUNS),
    VALUE_READS,
    {"scipy", "duckdb"},
)
def customer_value_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """(M)BG/NBD + Gamma-Gamma by maximum likelihood, evaluated on the last 90 days; the
    naive repeat rate serves unless the model beats its holdout correlation."""
    with warehouse.get_connection() as conn, memory_limit(conn, JOIN_MEMORY_LIMIT):
        result = value_summaries(summaries(conn))
        values = result.customer_value
        top, rows = _published(
            conn, tables.CUSTOMER_VALUE, values, "predicted_clv_365d", customer_value, result
        )
    yield from _scored(
        context,
        "customer value",
        tables.CUSTOMER_VALUE,
        tables.CUSTOMER_VALUE_RUNS,
        top,
        rows,
        result,
        expected_orders_90d=dg.MetadataValue.float(float(values["predicted_orders_90d"].sum())),
        expected_revenue_365d=dg.MetadataValue.float(float(values["predicted_clv_365d"].sum())),
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


@_model_asset(
    "search_opportunity_model",
    "attract",
    (tables.SEARCH_OPPORTUNITIES, tables.SEARCH_CTR_CURVE, tables.SEARCH_CTR_CURVE_RUNS),
    SEARCH_READS,
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
            **quality_metadata(result.model_runs),
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
