"""The leads as the lead scorer reads them: one pass in DuckDB labels every lead, counts the
conversations known at its scoring time and numbers the labelled leads (by creation) and the
open ones (by contact_id) in a temporary table; pandas then gets the features of just the
rows it asks for — the training sample, the holdout, the open leads a batch at a time — so
that no frame ever holds every contact.

The rules are :mod:`.lead_scoring`'s (its docstring): :func:`.lead_scoring.label_leads` and
:func:`.lead_scoring.build_features` compute the same from frames.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from flywheel_pipeline import tables
from flywheel_pipeline.insights._common import end_of_day, frame_table, to_utc_naive
from flywheel_pipeline.sql import identifier
from flywheel_pipeline.warehouse import JOIN_MEMORY_LIMIT, fetch_row, fetch_value, memory_limit

#: the contacts' columns the features come from (besides contact_id and created_at)
FEATURE_COLUMNS = [
    "channel_group",
    "source",
    "medium",
    "industry",
    "company_size",
    "country",
    "first_landing_page",
]
_TABLE = "lead_rows"  # temporary: the connection's own, gone when it closes

# $stop: the first instant after data_through (nothing later is read); a lead's scoring time
# is created_at + $window_days, capped at $stop; its label needs its $horizon_days closed.
# One statement a step: each join and numbering is done (and can spill) before the next.
_LEAD_ROWS_SQL = (
    """
create or replace temp table lead_contacts as
select contact_id, created_at, {features}
from {contacts}
where contact_id is not null and created_at < $stop
""",
    """
create or replace temp table lead_facts as
with first_orders as (
    select contact_id, min(ordered_at) as first_order_at
    from {orders}
    where contact_id is not null and ordered_at < $stop
    group by contact_id
),
known as (
    select c.contact_id, count(*) as conversations
    from lead_contacts c
    join {conversations} v using (contact_id)
    where v.started_at < least(c.created_at + to_days($window_days), $stop)
    group by c.contact_id
)
select
    c.contact_id,
    coalesce(k.conversations, 0) as known_conversations,
    f.first_order_at
from lead_contacts c
left join first_orders f using (contact_id)
left join known k using (contact_id)
""",
    """
create or replace temp table lead_rows as
with leads as (
    select
        c.*,
        f.known_conversations,
        f.first_order_at,
        c.created_at + to_days($horizon_days) < $stop
        and (f.first_order_at is null or f.first_order_at >= c.created_at + to_days($window_days))
            as labelled,
        f.first_order_at is not null
        and f.first_order_at <= c.created_at + to_days($horizon_days) as converted
    from lead_contacts c
    join lead_facts f using (contact_id)
)
select
    * exclude (converted),
    case when labelled then converted::int end as label,
    case when labelled and converted then epoch(first_order_at - created_at) / 86400 end
        as days_to_convert,
    case when labelled then
        row_number() over (partition by labelled order by created_at, contact_id) - 1
    end as labelled_row,
    case when first_order_at is null then
        row_number() over (partition by first_order_at is null order by contact_id) - 1
    end as open_row
from leads
""",
    "drop table lead_contacts",
    "drop table lead_facts",
)
# data_through by default: the last day of the rows with a contact
_LAST_DAY_SQL = """
select max(ts)::date from (
    select max(created_at) as ts from {contacts} where contact_id is not null
    union all select max(started_at) from {conversations} where contact_id is not null
    union all select max(ordered_at) from {orders} where contact_id is not null
)
"""
_FEATURES = ", ".join(
    ["contact_id", "created_at", *map(identifier, FEATURE_COLUMNS), "known_conversations"]
)


@dataclass(frozen=True)
class LeadRows:
    """The leads of one data_through in the connection's temporary ``lead_rows`` table."""

    conn: duckdb.DuckDBPyConnection
    data_through: dt.date
    leads: int
    labelled: int
    open: int

    @classmethod
    def prepare(
        cls,
        conn: duckdb.DuckDBPyConnection,
        relations: dict[str, str],
        data_through: dt.date | None,
        *,
        horizon_days: int,
        feature_window_days: int,
    ) -> LeadRows | None:
        """Number the leads of ``relations`` (contacts, conversations, orders: SQL relations
        with the columns of the staging tables) as of ``data_through`` (by default the last
        day in them); None when there is no day or no lead."""
        day = data_through or fetch_value(conn, _LAST_DAY_SQL.format(**relations))
        if day is None:
            return None
        features = ", ".join(map(identifier, FEATURE_COLUMNS))
        params = {
            "stop": end_of_day(day),
            "window_days": feature_window_days,
            "horizon_days": horizon_days,
        }
        with memory_limit(conn, JOIN_MEMORY_LIMIT):  # the conversations meet the contacts
            for step in _LEAD_ROWS_SQL:
                sql = step.format(features=features, **relations)
                conn.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
        leads, labelled, open_ = fetch_row(
            conn, f"select count(*), count(labelled_row), count(open_row) from {_TABLE}"
        )
        if not leads:
            return None
        return cls(conn, day, int(leads), int(labelled), int(open_))

    def labels(self) -> pd.DataFrame:
        """created_at, label, days_to_convert of the labelled leads, in their order (by
        creation, then contact_id): numbers only, however many leads."""
        return self.conn.execute(
            f"select created_at, label, days_to_convert from {_TABLE} "
            "where labelled_row is not null order by labelled_row"
        ).df()

    def label_counts(self, column: str, below: int) -> pd.DataFrame:
        """Per value of ``column`` over the labelled leads numbered below ``below``: sum
        (converted) and count."""
        return self.conn.execute(
            f"select {identifier(column)} as value, sum(label) as sum, count(*) as count "
            f"from {_TABLE} where labelled_row < ? group by all order by all",
            [below],
        ).df()

    def converted_share(self) -> float:
        """Share of all leads with a first order (the fallback when none is labelled)."""
        sql = f"select avg((first_order_at is not null)::double) from {_TABLE}"
        return float(fetch_value(self.conn, sql))

    def labelled_rows(self, positions: np.ndarray) -> pd.DataFrame:
        """The feature columns of the labelled leads at ``positions`` (sorted), in order."""
        picked = pd.DataFrame({"position": np.asarray(positions, dtype=np.int64)})
        self.conn.register("lead_positions", picked)
        try:
            return self.conn.execute(
                f"select {_FEATURES} from {_TABLE} join lead_positions "
                "on labelled_row = position order by position"
            ).df()
        finally:
            self.conn.unregister("lead_positions")

    def batches(self, numbered: str, start: int, stop: int, rows: int) -> Iterator[pd.DataFrame]:
        """The feature columns of the leads numbered ``start`` ≤ ``numbered`` < ``stop``
        (labelled_row or open_row), ``rows`` at a time in their order; each batch is read
        whole, so the connection is free for other work between them."""
        for at in range(start, stop, rows):
            yield self.conn.execute(
                f"select {_FEATURES} from {_TABLE} where {identifier(numbered)} >= ? "
                f"and {identifier(numbered)} < ? order by {identifier(numbered)}",
                [at, min(at + rows, stop)],
            ).df()


def load_frames(
    conn: duckdb.DuckDBPyConnection,
    contacts: pd.DataFrame,
    conversations: pd.DataFrame | None,
    orders: pd.DataFrame | None,
) -> dict[str, str]:
    """The frames as temporary tables of ``conn`` (timestamps as naive UTC, missing feature
    columns null), named as :meth:`LeadRows.prepare` takes them."""
    frames = {
        "contacts": contacts.reindex(columns=["contact_id", "created_at", *FEATURE_COLUMNS]),
        "conversations": _events(conversations, "started_at"),
        "orders": _events(orders, "ordered_at"),
    }
    relations = {}
    for name, frame in frames.items():
        text = [c for c in frame.columns if not c.endswith("_at")]
        frame = frame.astype(dict.fromkeys(text, "string"))
        if name == "contacts":  # one row a contact, as the staging table tests it
            frame = frame[to_utc_naive(frame["created_at"]).notna()]
            frame = frame.drop_duplicates("contact_id")
        # not the names of the steps' tables
        relations[name] = frame_table(conn, f"frame_{name}", frame)
    return relations


def _events(frame: pd.DataFrame | None, column: str) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame(
            {"contact_id": pd.Series(dtype="string"), column: pd.Series(dtype="datetime64[ns]")}
        )
    return frame.reindex(columns=["contact_id", column])


def warehouse_relations() -> dict[str, str]:
    """The staging tables :meth:`LeadRows.prepare` reads in the warehouse."""
    return {
        "contacts": tables.CONTACTS.quoted,
        "conversations": tables.CONVERSATIONS.quoted,
        "orders": tables.ORDERS.quoted,
    }
