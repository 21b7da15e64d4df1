"""The candidates of the follow-up and win-back lists, read from the warehouse: the top
leads and the customers at risk, less the contacts already acted on, with what their
rationales need (the leads' channel and age, the customers' purchase histories) and the
shop-wide figures that the whole tables would give (how many leads are open, the shop's mean
repeat purchase)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from flywheel_pipeline import tables
from flywheel_pipeline.insights._common import end_of_day
from flywheel_pipeline.recommendations.customers import (
    AT_RISK_P_ALIVE,
    HISTORY_COLUMNS,
    MIN_P_ALIVE,
    KnownCustomers,
)
from flywheel_pipeline.recommendations.economics import ImpactAssumptions
from flywheel_pipeline.recommendations.inputs import exist
from flywheel_pipeline.recommendations.leads import MAX_LEADS, OpenLeads
from flywheel_pipeline.recommendations.referrals import (
    FRESH_DAYS,
    PROMOTER_SCORE,
    VALUE_DAYS,
    Promoters,
    ReferralValue,
)
from flywheel_pipeline.sql import MONEY
from flywheel_pipeline.warehouse import JOIN_MEMORY_LIMIT, fetch_row, fetch_value, memory_limit

# The lists' candidates, less the contacts already acted on (the frame acted_contacts).
_NOT_ACTED = "contact_id not in (select contact_id from acted_contacts)"
# the leads a follow-up helps most (leads.follow_up_gain), as follow_up_candidates orders them
_TOP_LEADS_SQL = (
    f"select * from {tables.LEAD_SCORES.quoted} where {_NOT_ACTED} "
    "order by least(1.0, lead_score * (1 + $lift)) - lead_score desc, lead_score desc, "
    "contact_id limit $leads"
)
_OPEN_LEADS_SQL = (
    f"select count(*), avg(lead_score) from {tables.LEAD_SCORES.quoted} where {_NOT_ACTED}"
)
# the follow-up rationale names each listed lead's channel and creation day
_TOP_LEAD_CONTACTS_SQL = (
    f"select contact_id, created_at, channel_group from {tables.CONTACTS.quoted} "
    f"where contact_id in (select contact_id from ({_TOP_LEADS_SQL})) order by contact_id"
)
# ask_referral: each contact's latest NPS answer (before $stop); the promoters among them
# with the referrals they made after it
_PROMOTERS_SQL = f"""
create or replace temp table promoters as
with latest as (
    select contact_id, responded_at, score
    from {tables.NPS_RESPONSES.quoted}
    where {_NOT_ACTED} and responded_at < $stop and score is not null
    qualify row_number() over (partition by contact_id order by responded_at desc, score) = 1
),
promoters as (
    select * from latest where score >= $promoter
),
made as (
    select p.contact_id, count(*) as referrals
    from promoters p
    join {tables.REFERRALS.quoted} r on r.referrer_contact_id = p.contact_id
    where r.referred_at < $stop and r.referred_at >= p.responded_at
    group by p.contact_id
)
select p.*, coalesce(m.referrals, 0) as referrals, epoch($stop - p.responded_at) / 86400 as days
from promoters p
left join made m using (contact_id)
"""
_PROMOTER_TOTALS_SQL = "select count(*), sum(referrals), sum(days) from promoters"
_FRESH_PROMOTERS_SQL = (
    "select contact_id, responded_at, score, referrals from promoters where days <= $fresh "
    "order by contact_id"
)
# the revenue of the referred contacts in their first VALUE_DAYS, per referral: of the
# referrals that old ($mature_before), else of every one (a lower bound)
_REFERRAL_VALUE_SQL = f"""
with referred as (
    select referred_contact_id as contact_id, referred_at, referred_at < $mature_before as mature
    from {tables.REFERRALS.quoted}
    where referred_at < $stop
),
counted as (
    select * from referred
    where mature or not exists (select 1 from referred where mature)
),
revenue as (
    select coalesce(sum(o.revenue::{MONEY}), 0) as revenue
    from counted c
    join {tables.ORDERS.quoted} o using (contact_id)
    where o.ordered_at < $stop
        and o.ordered_at >= c.referred_at
        and o.ordered_at < c.referred_at + to_days($value_days)
)
select (select revenue from revenue), count(*), bool_or(mature) from counted
"""
_VALUED = "p_alive is not null and predicted_orders_90d is not null"
_AT_RISK_SQL = (
    f"select * from {tables.CUSTOMER_VALUE.quoted} where {_NOT_ACTED} and {_VALUED} "
    "and p_alive between $min_p_alive and $at_risk_p_alive and predicted_orders_90d > 0 "
    "order by contact_id"
)
_VALUED_SQL = (
    f"select count(*) from {tables.CUSTOMER_VALUE.quoted} where {_NOT_ACTED} and {_VALUED}"
)
# purchase_history's days: one purchase per contact and calendar day, before $stop
_PURCHASE_DAYS_SQL = f"""
create or replace temp table purchase_days as
with days as (
    select
        contact_id,
        ordered_at::date::timestamp as day,
        coalesce(sum(revenue::{MONEY}), 0) as revenue
    from {tables.ORDERS.quoted}
    where contact_id is not null and ordered_at < $stop
    group by all
)
select *, day > min(day) over (partition by contact_id) as repeated
from days
"""
_REPEAT_PRIOR_SQL = (
    "select (sum(revenue) filter (where repeated) / count(*) filter (where repeated))::double "
    "from purchase_days"
)
_HISTORY_SQL = """
select
    contact_id,
    count(*) as purchases,
    sum(revenue)::double as revenue,
    min(day) as first_day,
    max(day) as last_day,
    count(*) filter (where repeated) as repeats,
    avg(revenue) filter (where repeated) as repeat_spend
from purchase_days
where contact_id in (select contact_id from at_risk)
group by contact_id
order by contact_id
"""


def read_listed(
    conn: duckdb.DuckDBPyConnection,
    data_through: dt.date | None,
    acted: set[str],
    *,
    max_leads: int = MAX_LEADS,
    lift: float = ImpactAssumptions().follow_up_relative_lift,
) -> dict[str, object]:
    """The candidates of the follow-up, win-back and referral lists, as the inputs of
    :func:`.candidates.build_recommendations`, leaving out the ``acted`` contacts: the
    ``max_leads`` leads a follow-up of relative ``lift`` helps most (with how many are open,
    their contacts' channel and age), the promoters and the value of a referral, and the
    customers at risk (with their purchase history and the shop's mean repeat purchase)."""
    inputs: dict[str, object] = {}
    conn.register("acted_contacts", pd.DataFrame({"contact_id": sorted(acted)}, dtype=object))
    try:
        if exist(conn, tables.LEAD_SCORES):
            leads = {"leads": max_leads, "lift": lift}
            inputs["lead_scores"] = conn.execute(_TOP_LEADS_SQL, leads).df()
            count, mean = fetch_row(conn, _OPEN_LEADS_SQL)
            inputs["open_leads"] = OpenLeads(int(count), float(mean or 0.0))
            if exist(conn, tables.CONTACTS):
                with memory_limit(conn, JOIN_MEMORY_LIMIT):
                    inputs["contacts"] = conn.execute(_TOP_LEAD_CONTACTS_SQL, leads).df()
        if exist(conn, tables.NPS_RESPONSES, tables.REFERRALS) and data_through is not None:
            inputs["promoters"] = _promoters(conn, data_through)
            if exist(conn, tables.ORDERS):
                inputs["referral_value"] = _referral_value(conn, data_through)
        if exist(conn, tables.CUSTOMER_VALUE) and data_through is not None:
            risk = {"min_p_alive": MIN_P_ALIVE, "at_risk_p_alive": AT_RISK_P_ALIVE}
            at_risk = conn.execute(_AT_RISK_SQL, risk).df()
            inputs["customer_value"] = at_risk
            inputs["known_customers"] = _known_customers(conn, at_risk, data_through)
    finally:
        conn.unregister("acted_contacts")
    return inputs


def _promoters(conn: duckdb.DuckDBPyConnection, data_through: dt.date) -> Promoters:
    """:func:`.referrals.promoters_of` of the warehouse's NPS answers and referrals."""
    with memory_limit(conn, JOIN_MEMORY_LIMIT):
        conn.execute(_PROMOTERS_SQL, {"stop": end_of_day(data_through), "promoter": PROMOTER_SCORE})
    count, made, days = fetch_row(conn, _PROMOTER_TOTALS_SQL)
    fresh = conn.execute(_FRESH_PROMOTERS_SQL, {"fresh": FRESH_DAYS}).df()
    return Promoters(fresh, int(count), int(made or 0), float(days or 0.0))


def _referral_value(conn: duckdb.DuckDBPyConnection, data_through: dt.date) -> ReferralValue:
    """:func:`.referrals.referral_value` of the warehouse's referrals and orders."""
    stop = end_of_day(data_through)
    params = {
        "stop": stop,
        "mature_before": stop - pd.Timedelta(days=VALUE_DAYS),
        "value_days": VALUE_DAYS,
    }
    with memory_limit(conn, JOIN_MEMORY_LIMIT):
        revenue, count, mature = fetch_row(conn, _REFERRAL_VALUE_SQL, params)
    count = int(count)
    return ReferralValue(float(revenue) / count if count else 0.0, count, bool(mature))


def _known_customers(
    conn: duckdb.DuckDBPyConnection, at_risk: pd.DataFrame, data_through: dt.date
) -> KnownCustomers:
    customers = int(fetch_value(conn, _VALUED_SQL))
    if not exist(conn, tables.ORDERS):
        return KnownCustomers(pd.DataFrame(columns=HISTORY_COLUMNS), None, customers)
    with memory_limit(conn, JOIN_MEMORY_LIMIT):
        conn.execute(_PURCHASE_DAYS_SQL, {"stop": end_of_day(data_through)})
        prior = fetch_value(conn, _REPEAT_PRIOR_SQL)
        conn.register("at_risk", at_risk[["contact_id"]])
        try:
            history = conn.execute(_HISTORY_SQL).df().set_index("contact_id")
        finally:
            conn.unregister("at_risk")
            conn.execute("drop table purchase_days")
    return KnownCustomers(history[HISTORY_COLUMNS], prior, customers)
