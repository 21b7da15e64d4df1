"""What the outcomes asset reads from the warehouse: the topics' conversations counted per
day, and of the contacts and orders only the list members' rows, with the day the CRM data
reaches; the small tables (deals, referrals, members, search rows per day) whole."""

from __future__ import annotations

import duckdb
import pandas as pd

from flywheel_pipeline import tables
from flywheel_pipeline.recommendations.inputs import (
    COUNTED,
    LATEST_ASSIGNED,
    exist,
    latest_day,
    read_campaign_days,
)
from flywheel_pipeline.sql import identifier
from flywheel_pipeline.warehouse import JOIN_MEMORY_LIMIT, memory_limit, read_relation_if_exists

_OUTCOME_INPUTS = {
    "targets": tables.RECOMMENDATION_TARGETS,
    # day × query × page, country and device summed by dbt: CTR is measured per day × query
    "search": tables.QUERY_PAGES_DAILY,
}
# The members' rows of the large tables the list outcomes read (measure_outcomes' docstring),
# by the key a member's target_id is.
_MEMBER_COLUMNS = {
    "contacts": (tables.CONTACTS, "contact_id", ("contact_id", "created_at")),
    "orders": (tables.ORDERS, "contact_id", ("contact_id", "ordered_at", "revenue")),
    "deals": (tables.DEALS, "deal_id", ("deal_id", "closed_at", "is_won")),
    "referrals": (
        tables.REFERRALS,
        "referrer_contact_id",
        ("referrer_contact_id", "referred_contact_id", "referred_at"),
    ),
}
# the day the CRM data reaches: whether a list's outcome window has ended
_CRM_DATES = (
    (tables.CONTACTS, "created_at"),
    (tables.ORDERS, "ordered_at"),
    (tables.DEALS, "created_at"),
    (tables.DEALS, "closed_at"),
    (tables.REFERRALS, "referred_at"),
)
# count_topic_days: conversations, resolved and resolution-known per day and topic
_TOPIC_DAYS_SQL = f"""
select
    v.started_at::date::timestamp as day,
    a.topic_id::varchar as unit,
    count(*) as conversations,
    count(*) filter (where v.resolved) as resolved,
    count(v.resolved) as known
from ({LATEST_ASSIGNED}) a
join {tables.CONVERSATIONS.quoted} v using (conversation_id)
where a.topic_id is not null and v.started_at is not null
group by all
order by all
"""
OUTCOME_READS = (
    tables.RECOMMENDATION_CANDIDATES,
    tables.DECISIONS,
    *_OUTCOME_INPUTS.values(),
    *COUNTED,
    tables.CONTACTS,
    tables.ORDERS,
    tables.DEALS,
    tables.REFERRALS,
    tables.CAMPAIGN_DAYS,
)


def _members_rows(
    conn: duckdb.DuckDBPyConnection, table: tables.Table, key: str, columns: tuple[str, ...]
) -> pd.DataFrame | None:
    """The ``columns`` of ``table``'s rows whose ``key`` is a list member's."""
    if not exist(conn, table, tables.RECOMMENDATION_TARGETS):
        return None
    members = f"select target_id from {tables.RECOMMENDATION_TARGETS.quoted}"
    return conn.execute(
        f"select {', '.join(map(identifier, columns))} from {table.quoted} "
        f"where {identifier(key)} in ({members}) order by all"
    ).df()


def count_topic_days(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """:func:`.outcomes.count_topic_days` of the warehouse's latest topic assignments (None
    without them or the conversations)."""
    return conn.execute(_TOPIC_DAYS_SQL).df() if exist(conn, *COUNTED) else None


def read_outcome_inputs(conn: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """Every input of :func:`.outcomes.measure_outcomes` besides the recommendations (``None``
    where a table is missing), keyed by its argument name: the topics' days counted here, and
    of the contacts, orders, deals and referrals only the list members' rows."""
    inputs: dict[str, object] = {
        name: read_relation_if_exists(conn, t.relation) for name, t in _OUTCOME_INPUTS.items()
    }
    for name, (table, key, columns) in _MEMBER_COLUMNS.items():
        inputs[name] = _members_rows(conn, table, key, columns)
    last = latest_day(conn, _CRM_DATES)
    inputs["crm_last_day"] = None if last is None else pd.Timestamp(last)
    with memory_limit(conn, JOIN_MEMORY_LIMIT):
        inputs["topic_days"] = count_topic_days(conn)
    inputs["campaign_days"] = read_campaign_days(conn)
    return inputs
