"""What the candidates asset reads from the warehouse.

Small tables (the topics, deal scores, search opportunities) arrive whole, and of the deals
the scored ones. The large ones stay in DuckDB, and the candidates get what the pure
functions would compute from them, computed there: the conversations per topic and outcome
(:func:`.economics.topic_outcomes`), the shop's economics (:func:`.economics.shop_economics`),
the first messages per topic and text, first-touch revenue per page and campaign
(:class:`WarehouseFirstTouch`) and the median days to a deal's win. The lists' candidates
(with the promoters and the value of a referral) come from :mod:`.list_inputs`, the
outcomes' inputs from :mod:`.outcome_inputs`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import pandas as pd

from flywheel_pipeline import tables
from flywheel_pipeline.insights._common import end_of_day
from flywheel_pipeline.recommendations.economics import (
    NEW_CUSTOMER_DAYS,
    ORDER_WINDOW_DAYS,
    TOPIC_OUTCOME_COLUMNS,
    WINDOW_DAYS,
    ShopEconomics,
)
from flywheel_pipeline.recommendations.first_touch import VALUE_DAYS, empty_revenue
from flywheel_pipeline.sql import MONEY, identifier
from flywheel_pipeline.warehouse import (
    JOIN_MEMORY_LIMIT,
    catalog_columns,
    fetch_row,
    fetch_value,
    memory_limit,
    read_relation_if_exists,
    relation_exists,
)

# Model-driven inputs: a table an insight asset has not written yet (a cold start, or an asset
# that failed for lack of data) is read as missing, and its action type proposes nothing.
_ML_INPUTS = {
    "topics": tables.CONVERSATION_TOPICS,
    "deal_scores": tables.DEAL_SCORES,
    "search_opportunities": tables.SEARCH_OPPORTUNITIES,
}
# One row a lead or customer: only the candidates of their lists are read (.list_inputs).
_LISTED = (tables.LEAD_SCORES, tables.CUSTOMER_VALUE)
_RUNS = (tables.LEAD_SCORING_RUNS, tables.DEAL_SCORING_RUNS, tables.CUSTOMER_VALUE_RUNS)
# Counted in the warehouse by .list_inputs (ask_referral's promoters and referral value).
_PROMOTER_INPUTS = (tables.NPS_RESPONSES, tables.REFERRALS)
# attend_deal reads only the scored (open) deals, and the median days to a win of them all
_SCORED_DEALS_SQL = (
    f"select * from {tables.DEALS.quoted} "
    f"where deal_id in (select deal_id from {tables.DEAL_SCORES.quoted}) order by deal_id"
)
_DAYS_TO_WIN_SQL = (
    f"select median(epoch(closed_at - created_at) / 86400) from {tables.DEALS.quoted} "
    "where is_won and closed_at < $stop"
)
# Counted in the warehouse (topic_outcomes), never read row by row.
COUNTED = (tables.CONVERSATION_TOPIC_ASSIGNMENTS, tables.CONVERSATIONS)
# Summed in the warehouse (economics, first touch, purchase histories), or read for a few
# contacts (the top leads, the referred contacts, the customers at risk).
_SUMMED = (tables.CONTACTS, tables.ORDERS)
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
_ASSIGNED = tables.CONVERSATION_TOPIC_ASSIGNMENTS.quoted
# the latest topic run's assignments (the table holds one run; a half-replaced one must not
# count twice)
LATEST_ASSIGNED = (
    f"select conversation_id, topic_id from {_ASSIGNED} "
    f"where data_through is not distinct from (select max(data_through) from {_ASSIGNED})"
)
# The content brief's first messages, counted per topic and text (what topic_questions would
# count from the raw rows), so that pandas gets one row per distinct question rather than one
# per conversation.
_FIRST_MESSAGES_SQL = f"""
select a.topic_id, t.first_user_text, count(*) as asked
from {tables.CONVERSATION_TEXTS.quoted} t
join ({LATEST_ASSIGNED}) a on a.conversation_id = t.conversation_id
where t.first_user_text is not null and a.topic_id is not null
group by a.topic_id, t.first_user_text
order by a.topic_id, t.first_user_text
"""
# topic_outcomes, counted where the conversations are. A conversation's order outcome is
# known when its contact is and the order window has closed by data_through ($mature_before),
# and only when the shop has orders by then ($orders_known).
_TOPIC_OUTCOMES_SQL = """
with conversations as (
    select a.topic_id, v.conversation_id, v.contact_id, v.started_at, v.resolved
    from ({assigned}) a
    join {conversations} v using (conversation_id)
    where v.started_at < $stop
),
followed as (
    select distinct c.conversation_id
    from conversations c
    join {orders} o using (contact_id)
    where c.started_at < $mature_before
        and o.ordered_at >= c.started_at
        and o.ordered_at < c.started_at + to_days($order_window_days)
        and o.ordered_at < $stop
)
select
    c.topic_id,
    c.resolved,
    case
        when $orders_known and c.contact_id is not null and c.started_at < $mature_before
            then f.conversation_id is not null
    end as ordered_after,
    c.started_at >= $recent_from as recent,
    count(*) as conversations
from conversations c
left join followed f using (conversation_id)
group by all
order by all
"""
_NO_ORDERS = "(select null::varchar as contact_id, null::timestamp as ordered_at where false)"
# shop_economics: the orders up to data_through; a customer's first NEW_CUSTOMER_DAYS of
# revenue, over the customers whose first order is that old
_ECONOMICS_SQL = f"""
with orders as (
    select contact_id, ordered_at, coalesce(revenue, 0)::{MONEY} as revenue
    from {tables.ORDERS.quoted}
    where ordered_at < $stop
),
firsts as (
    select contact_id, min(ordered_at) as first_at
    from orders
    where contact_id is not null
    group by contact_id
),
new_customers as (
    select contact_id, sum(o.revenue) as revenue
    from orders o
    join firsts using (contact_id)
    where first_at < $mature_before and ordered_at < first_at + to_days({NEW_CUSTOMER_DAYS})
    group by contact_id
)
select
    (select avg(revenue) from orders),
    (select avg(revenue) from new_customers),
    (select count(*) from orders),
    (select count(*) from new_customers)
"""

# FirstTouch.revenue: the contacts created in [$start, $until) and their orders before $stop
# within VALUE_DAYS of their creation, per value of one of the contacts' columns
_FIRST_TOUCH_SQL = f"""
select
    {{value}} as value,
    coalesce(sum(o.revenue::{MONEY}), 0)::double as revenue,
    count(distinct c.contact_id) as customers
from {tables.CONTACTS.quoted} c
join {tables.ORDERS.quoted} o using (contact_id)
where c.created_at >= $start and c.created_at < $until
    and o.ordered_at < $stop
    and o.ordered_at >= c.created_at
    and o.ordered_at < c.created_at + to_days({VALUE_DAYS})
group by all
order by all
"""


@dataclass(frozen=True)
class WarehouseFirstTouch:
    """:class:`.first_touch.FirstTouch` summed in the warehouse's contacts and orders."""

    conn: duckdb.DuckDBPyConnection

    def _has(self, column: str) -> bool:
        return column in {
            name for name, _, _ in catalog_columns(self.conn, tables.CONTACTS.relation)
        }

    def knows(self, column: str) -> bool:
        if not self._has(column):
            return False
        sql = f"select count({identifier(column)}) > 0 from {tables.CONTACTS.quoted}"
        with memory_limit(self.conn, JOIN_MEMORY_LIMIT):
            return bool(fetch_value(self.conn, sql))

    def revenue(
        self, column: str, start: pd.Timestamp, until: pd.Timestamp, stop: pd.Timestamp
    ) -> pd.DataFrame:
        if not exist(self.conn, tables.CONTACTS, tables.ORDERS):
            return empty_revenue()
        value = f"c.{identifier(column)}" if self._has(column) else "null"
        params = {"start": start, "until": until, "stop": stop}
        with memory_limit(self.conn, JOIN_MEMORY_LIMIT):
            return self.conn.execute(_FIRST_TOUCH_SQL.format(value=value), params).df()


# The date each input is as of: the models' (never the wall clock, so replays reproduce), else
# the last event in the CRM and conversation data.
_MODEL_DATES = tuple((t, "data_through") for t in (*_ML_INPUTS.values(), *_LISTED))
_EVENT_DATES = (
    (tables.ORDERS, "ordered_at"),
    (tables.CONVERSATIONS, "started_at"),
    (tables.NPS_RESPONSES, "responded_at"),
    (tables.REFERRALS, "referred_at"),
)


def latest_day(conn: duckdb.DuckDBPyConnection, dates) -> dt.date | None:
    """The last day of the ``(table, column)`` pairs whose table exists."""
    parts = [
        f"select max({identifier(column)})::date as day from {table.quoted}"
        for table, column in dates
        if relation_exists(conn, table.relation)
    ]
    if not parts:
        return None
    return fetch_value(conn, f"select max(day) from ({' union all '.join(parts)})")


def as_of(conn: duckdb.DuckDBPyConnection) -> dt.date | None:
    """``data_through`` of the candidates: the latest as-of date of the models, else the last
    event in the staging tables; None in an empty warehouse."""
    return latest_day(conn, _MODEL_DATES) or latest_day(conn, _EVENT_DATES)


def read_campaign_days(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    if not relation_exists(conn, tables.CAMPAIGN_DAYS.relation):
        return None
    return conn.execute(_CAMPAIGN_DAYS_SQL).df()


def exist(conn: duckdb.DuckDBPyConnection, *needed: tables.Table) -> bool:
    return all(relation_exists(conn, t.relation) for t in needed)


def count_topic_outcomes(
    conn: duckdb.DuckDBPyConnection, data_through: dt.date, *, orders_known: bool
) -> pd.DataFrame | None:
    """:func:`.economics.topic_outcomes` of the warehouse's latest topic assignments (None
    without them or the conversations); ``orders_known``: the shop has orders by
    ``data_through`` (:func:`measure_economics` counts them)."""
    if not exist(conn, *COUNTED):
        return None
    has_orders = exist(conn, tables.ORDERS)
    sql = _TOPIC_OUTCOMES_SQL.format(
        assigned=LATEST_ASSIGNED,
        conversations=tables.CONVERSATIONS.quoted,
        orders=tables.ORDERS.quoted if has_orders else _NO_ORDERS,
    )
    stop = end_of_day(data_through)
    counts = conn.execute(
        sql,
        {
            "stop": stop,
            "mature_before": stop - pd.Timedelta(days=ORDER_WINDOW_DAYS),
            "recent_from": stop - pd.Timedelta(days=WINDOW_DAYS),
            "order_window_days": ORDER_WINDOW_DAYS,
            "orders_known": has_orders and orders_known,
        },
    ).df()
    for column in ("resolved", "ordered_after"):
        counts[column] = counts[column].astype("boolean")
    return counts[TOPIC_OUTCOME_COLUMNS]


def measure_economics(
    conn: duckdb.DuckDBPyConnection, data_through: dt.date
) -> ShopEconomics | None:
    """:func:`.economics.shop_economics` of the warehouse's orders (None without them)."""
    if not exist(conn, tables.ORDERS):
        return None
    stop = end_of_day(data_through)
    params = {"stop": stop, "mature_before": stop - pd.Timedelta(days=NEW_CUSTOMER_DAYS)}
    aov, per_customer, orders, customers = fetch_row(conn, _ECONOMICS_SQL, params)
    if not orders:
        return ShopEconomics(0.0, 0.0, 0, 0)
    return ShopEconomics(aov, per_customer if customers else aov, orders, customers)


def read_inputs(conn: duckdb.DuckDBPyConnection, data_through: dt.date | None) -> dict[str, object]:
    """Every input of :func:`.candidates.build_recommendations` the warehouse holds as of
    ``data_through`` (``None`` where a table is missing), keyed by its argument name."""
    inputs: dict[str, object] = {
        name: read_relation_if_exists(conn, t.relation) for name, t in _ML_INPUTS.items()
    }
    runs = [
        frame for t in _RUNS if (frame := read_relation_if_exists(conn, t.relation)) is not None
    ]
    inputs["model_runs"] = pd.concat(runs, ignore_index=True) if runs else None
    if exist(conn, tables.DEALS, tables.DEAL_SCORES) and data_through is not None:
        inputs["deals"] = conn.execute(_SCORED_DEALS_SQL).df()
        days = fetch_value(conn, _DAYS_TO_WIN_SQL, {"stop": end_of_day(data_through)})
        inputs["days_to_win"] = math.nan if days is None else float(days)
    has_traffic = exist(conn, tables.GA4_TRAFFIC)
    inputs["traffic"] = conn.execute(_TRAFFIC_SQL).df() if has_traffic else None
    inputs["campaign_days"] = read_campaign_days(conn)
    # the content actions' brief: customers' first messages (their text only) and searches
    inputs["first_messages"] = (
        conn.execute(_FIRST_MESSAGES_SQL).df()
        if exist(conn, tables.CONVERSATION_TEXTS, tables.CONVERSATION_TOPIC_ASSIGNMENTS)
        else None
    )
    inputs["search_queries"] = read_relation_if_exists(conn, tables.QUERY_PAGES_RECENT.relation)
    inputs["first_touch"] = WarehouseFirstTouch(conn)
    if data_through is not None:
        with memory_limit(conn, JOIN_MEMORY_LIMIT):
            econ = measure_economics(conn, data_through)
            inputs["economics"] = econ
            inputs["topic_counts"] = count_topic_outcomes(
                conn, data_through, orders_known=econ is not None and econ.orders > 0
            )
    return inputs


# What the candidates asset reads upstream (its deps). It also reads its own previous tables
# (decided recommendations and their members are kept), which are no deps of it. Only
# recommendations someone acted on matter: the done ones are measured, the accepted ones may
# not serve as controls. Their decisions come from the staged decisions (DECISIONS, as
# flywheel.recommendations has them), not from that mart: the mart is built by the dbt
# invocation that also builds flywheel.recommendation_outcomes from this asset's table.
CANDIDATE_READS = (
    *_ML_INPUTS.values(),
    *_LISTED,
    *_RUNS,
    *_PROMOTER_INPUTS,
    tables.DEALS,
    *COUNTED,
    *_SUMMED,
    tables.GA4_TRAFFIC,
    tables.CAMPAIGN_DAYS,
    tables.CONVERSATION_TEXTS,
    tables.QUERY_PAGES_RECENT,
    tables.DECISIONS,
)
