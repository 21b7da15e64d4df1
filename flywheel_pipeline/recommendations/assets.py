"""The recommendation assets: rank every action type together by expected impact (with the
members of the list recommendations and their random holdout), and measure the outcome of the
done ones."""

import datetime as dt

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline import tables
from flywheel_pipeline.insights._common import max_date
from flywheel_pipeline.metadata import frame_metadata
from flywheel_pipeline.recommendations.candidates import build_recommendations, with_decided_history
from flywheel_pipeline.recommendations.lists import (
    DEFAULT_HOLDOUT_SHARE,
    TARGET_COLUMNS,
    acted_members,
    targets_with_decided_history,
)
from flywheel_pipeline.recommendations.outcomes import measure_outcomes
from flywheel_pipeline.settings import Settings
from flywheel_pipeline.sql import identifier
from flywheel_pipeline.tables import deps_of, write_table
from flywheel_pipeline.warehouse import (
    MODEL_MEMORY_LIMIT,
    WAREHOUSE_POOL,
    WarehouseResource,
    catalog_columns,
    memory_limit,
    read_relation_if_exists,
    read_shared_text,
    relation_exists,
)


class RecommendationConfig(dg.Config):
    cycle: int = 0  # the closed-loop simulation numbers its turns of the wheel
    # Share of every list kept as a random holdout; None: the FLYWHEEL_HOLDOUT_SHARE setting
    # (resource ``recommendation_settings``). A run may override it (0 ≤ share < 1).
    holdout_share: float | None = None


class RecommendationSettings(dg.ConfigurableResource):
    """The settings of the recommendation assets (from :class:`Settings`)."""

    holdout_share: float = DEFAULT_HOLDOUT_SHARE


# Model-driven inputs: a table an insight asset has not written yet (a cold start, or an asset
# that failed for lack of data) is read as missing, and its action type proposes nothing.
_ML_INPUTS = {
    "topics": tables.CONVERSATION_TOPICS,
    "assignments": tables.CONVERSATION_TOPIC_ASSIGNMENTS,
    "lead_scores": tables.LEAD_SCORES,
    "deal_scores": tables.DEAL_SCORES,
    "customer_value": tables.CUSTOMER_VALUE,
    "search_opportunities": tables.SEARCH_OPPORTUNITIES,
}
_RUNS = (tables.LEAD_SCORING_RUNS, tables.DEAL_SCORING_RUNS, tables.CUSTOMER_VALUE_RUNS)
_STAGING_INPUTS = {
    "conversations": tables.CONVERSATIONS,
    "orders": tables.ORDERS,
    "contacts": tables.CONTACTS,
    "deals": tables.DEALS,
    "nps": tables.NPS_RESPONSES,
    "referrals": tables.REFERRALS,
}
# Sessions per day and landing page are all rewrite_title needs: summed in the warehouse, the
# traffic report's source × medium × device rows never travel into pandas.
_TRAFFIC_SQL = (
    f"select report_date, landing_page, sum(sessions) as sessions from {tables.GA4_TRAFFIC.quoted} "
    "group by report_date, landing_page"
)


# Ad spend and sessions per paid campaign and day (shift_budget), named as budget.py reads them.
_CAMPAIGN_DAYS_SQL = (
    "select report_date as date, campaign, spend, sessions "
    f"from {tables.CAMPAIGN_DAYS.quoted} order by report_date, campaign"
)


def read_campaign_days(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    if not relation_exists(conn, tables.CAMPAIGN_DAYS.relation):
        return None
    return conn.execute(_CAMPAIGN_DAYS_SQL).df()


# The content brief's first messages, counted per topic and text in the warehouse (the
# latest topic run's assignments; what topic_questions would count from the raw rows), so
# that pandas gets one row per distinct question rather than one per conversation.
_ASSIGNED = tables.CONVERSATION_TOPIC_ASSIGNMENTS.quoted
_FIRST_MESSAGES_SQL = f"""
select a.topic_id, t.first_user_text, count(*) as asked
from {tables.CONVERSATION_TEXTS.quoted} t
join {_ASSIGNED} a on a.conversation_id = t.conversation_id
where t.first_user_text is not null and a.topic_id is not null
    and a.data_through is not distinct from (select max(data_through) from {_ASSIGNED})
group by a.topic_id, t.first_user_text
order by a.topic_id, t.first_user_text
"""

# The columns of the large tables the candidates read (build_recommendations' docstring); the
# others never leave the warehouse.
_LARGE_INPUT_COLUMNS = {
    "assignments": ("conversation_id", "topic_id", "data_through"),
    "conversations": ("conversation_id", "started_at", "resolved", "contact_id"),
    "orders": ("contact_id", "ordered_at", "revenue"),
    "contacts": ("contact_id", "created_at", "channel_group", "campaign", "first_landing_page"),
}


def read_columns(
    conn: duckdb.DuckDBPyConnection, relation: str, columns: tuple[str, ...]
) -> pd.DataFrame | None:
    """The ``columns`` of `schema.table` it has (in that order), or None when it is missing;
    a repeated string (a channel, a contact's id on each of its orders) held once a batch."""
    have = {name for name, _, _ in catalog_columns(conn, relation)}
    if not have:
        return None
    wanted = [c for c in columns if c in have]
    return read_shared_text(conn, f"select {', '.join(map(identifier, wanted))} from {relation}")


def read_inputs(conn: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame | None]:
    """Every input of :func:`build_candidates` that the warehouse holds (``None`` where a
    table is missing), keyed by its argument name."""
    relations = {**_ML_INPUTS, **_STAGING_INPUTS}
    inputs = {
        name: read_columns(conn, t.relation, _LARGE_INPUT_COLUMNS[name])
        if name in _LARGE_INPUT_COLUMNS
        else read_relation_if_exists(conn, t.relation)
        for name, t in relations.items()
    }
    runs = [
        frame for t in _RUNS if (frame := read_relation_if_exists(conn, t.relation)) is not None
    ]
    inputs["model_runs"] = pd.concat(runs, ignore_index=True) if runs else None
    inputs["traffic"] = (
        conn.execute(_TRAFFIC_SQL).df()
        if relation_exists(conn, tables.GA4_TRAFFIC.relation)
        else None
    )
    inputs["campaign_days"] = read_campaign_days(conn)
    # the content actions' brief: customers' first messages (their text only) and searches
    inputs["first_messages"] = (
        conn.execute(_FIRST_MESSAGES_SQL).df()
        if relation_exists(conn, tables.CONVERSATION_TEXTS.relation)
        and relation_exists(conn, tables.CONVERSATION_TOPIC_ASSIGNMENTS.relation)
        else None
    )
    inputs["search_queries"] = read_relation_if_exists(conn, tables.QUERY_PAGES_RECENT.relation)
    return inputs


# Where no model has an as-of date yet, the last event in the CRM and conversation data.
_EVENT_TIMES = {
    "orders": "ordered_at",
    "conversations": "started_at",
    "nps": "responded_at",
    "referrals": "referred_at",
}


def as_of(inputs: dict[str, pd.DataFrame | None]) -> dt.date | None:
    """``data_through`` of the candidates: the latest as-of date of the models (never the
    wall clock, so replays reproduce), else the last event in the staging inputs."""

    def latest(columns: dict[str, str]) -> dt.date | None:
        return max_date(
            *(
                frame[column]
                for name, column in columns.items()
                if (frame := inputs.get(name)) is not None and column in frame
            )
        )

    return latest(dict.fromkeys(_ML_INPUTS, "data_through")) or latest(_EVENT_TIMES)


# What each asset reads upstream (its deps). The candidates asset also reads its own previous
# tables (decided recommendations and their members are kept), which are no deps of it.
# Only recommendations someone acted on matter: the done ones are measured, the accepted ones
# may not serve as controls. Their decisions come from the staged decisions (DECISIONS, as
# flywheel.recommendations has them), not from that mart: the mart is built by the dbt
# invocation that also builds flywheel.recommendation_outcomes from this asset's table.
CANDIDATE_READS = (
    *_ML_INPUTS.values(),
    *_RUNS,
    *_STAGING_INPUTS.values(),
    tables.GA4_TRAFFIC,
    tables.CAMPAIGN_DAYS,
    tables.CONVERSATION_TEXTS,
    tables.QUERY_PAGES_RECENT,
    tables.DECISIONS,
)


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
        inputs = read_inputs(conn)
        data_through = as_of(inputs)
        decisions = read_relation_if_exists(conn, tables.DECISIONS.relation)
        previous = read_relation_if_exists(conn, tables.RECOMMENDATION_CANDIDATES.relation)
        previous_targets = read_relation_if_exists(conn, tables.RECOMMENDATION_TARGETS.relation)
        if previous_targets is not None and not set(TARGET_COLUMNS) <= set(previous_targets):
            previous_targets = None
        acted = acted_members(previous_targets, decisions, inputs.get("deals"), previous)
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
_OUTCOME_INPUTS = {
    "conversations": tables.CONVERSATIONS,
    "assignments": tables.CONVERSATION_TOPIC_ASSIGNMENTS,
    "contacts": tables.CONTACTS,
    "orders": tables.ORDERS,
    "deals": tables.DEALS,
    "referrals": tables.REFERRALS,
    "targets": tables.RECOMMENDATION_TARGETS,
    # day × query × page, country and device summed by dbt: CTR is measured per day × query
    "search": tables.QUERY_PAGES_DAILY,
}
# The columns of the large tables the outcomes read (measure_outcomes' docstring).
_OUTCOME_COLUMNS = {
    "conversations": ("conversation_id", "started_at", "resolved", "contact_id"),
    "assignments": ("conversation_id", "topic_id", "data_through"),
    "contacts": ("contact_id", "created_at"),
    "orders": ("contact_id", "ordered_at", "revenue"),
}
OUTCOME_READS = (
    tables.RECOMMENDATION_CANDIDATES,
    tables.DECISIONS,
    *_OUTCOME_INPUTS.values(),
    tables.CAMPAIGN_DAYS,
)


def read_outcome_inputs(conn: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame | None]:
    """Every input of :func:`measure_outcomes` besides the recommendations (``None`` where
    a table is missing), keyed by its argument name."""
    inputs = {
        name: read_columns(conn, t.relation, _OUTCOME_COLUMNS[name])
        if name in _OUTCOME_COLUMNS
        else read_relation_if_exists(conn, t.relation)
        for name, t in _OUTCOME_INPUTS.items()
    }
    inputs["campaign_days"] = read_campaign_days(conn)
    return inputs


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
