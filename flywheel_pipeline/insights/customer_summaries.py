"""The customers' purchase histories as the customer-value model reads them, summed in the
warehouse: one row a person (:func:`.customer_value.summarise`,
:func:`.customer_value.holdout_actuals`), never the orders themselves.

An order belongs to its contact's person (the surviving contact_id of the identity spine),
else to its contact; orders without either or without a time are left out, as
:func:`.customer_value.person_orders` leaves them.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from flywheel_pipeline import tables
from flywheel_pipeline.insights.customer_value import HOLDOUT_DAYS, Summaries
from flywheel_pipeline.sql import MONEY
from flywheel_pipeline.warehouse import JOIN_MEMORY_LIMIT, fetch_value, memory_limit

# contact_id → person_id (the surviving contact_id) from the identity spine
PERSONS = (
    "(select identifier_value as contact_id, person_id "
    f"from {tables.IDENTITY_PERSONS.quoted} where identifier_type = 'contact_id')"
)
# one purchase day a person: its revenue (null when no order of it has one) and orders
_PURCHASE_DAYS_SQL = f"""
create or replace temp table person_days as
select
    coalesce(p.person_id, o.contact_id) as person_id,
    o.ordered_at::date::timestamp as day,
    sum(o.revenue::{MONEY}) as revenue,
    count(*) as orders
from {tables.ORDERS.quoted} o
left join {PERSONS} p using (contact_id)
where o.contact_id is not null and o.ordered_at is not null
group by all
"""
_LAST_DAY_SQL = "select max(day)::date from person_days"
# summarise: x repeat days, t_x and T in days from the first, spend the repeat days' mean
_SUMMARY_SQL = """
with days as (
    select *, min(day) over (partition by person_id) as first_day
    from person_days
    where day <= $cut
)
select
    person_id,
    count(*) - 1 as x,
    date_diff('day', min(day), max(day))::double as t_x,
    date_diff('day', min(day), $cut)::double as "T",
    sum(orders)::bigint as orders,
    sum(revenue)::double as revenue,
    avg(revenue) filter (where day > first_day) as spend
from days
group by person_id
order by person_id
"""
# holdout_actuals: purchase days and revenue in ($start, $end]
_HOLDOUT_SQL = """
select person_id, count(*) as purchases, coalesce(sum(revenue), 0)::double as revenue
from person_days
where day > $start and day <= $end
group by person_id
order by person_id
"""


def summaries(
    conn: duckdb.DuckDBPyConnection,
    data_through: dt.date | None = None,
    holdout_days: int = HOLDOUT_DAYS,
) -> Summaries | None:
    """The warehouse's customers summarised as of ``data_through`` (by default the last
    order's day) and of the calibration end ``holdout_days`` before; None without orders."""
    with memory_limit(conn, JOIN_MEMORY_LIMIT):  # every order meets the identity spine
        conn.execute(_PURCHASE_DAYS_SQL)
        try:
            day = data_through or fetch_value(conn, _LAST_DAY_SQL)
            if day is None:
                return None
            cal_end = day - dt.timedelta(days=holdout_days)

            def summary(cut: dt.date) -> pd.DataFrame:
                frame = conn.execute(_SUMMARY_SQL, {"cut": pd.Timestamp(cut)}).df()
                return frame.set_index("person_id").astype({"x": "int64"})

            window = {"start": pd.Timestamp(cal_end), "end": pd.Timestamp(day)}
            holdout = conn.execute(_HOLDOUT_SQL, window).df().set_index("person_id")
            return Summaries(day, cal_end, summary(day), summary(cal_end), holdout)
        finally:
            conn.execute("drop table if exists person_days")
