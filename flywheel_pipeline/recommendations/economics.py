"""The shop's economics, measured from its own data, and the stated action-effect assumptions.

- Average order value: mean ``revenue`` of the orders up to ``data_through``.
- Revenue of a new customer in its first 90 days: mean revenue in ``[first order, +90 days)``
  over customers whose first order is at least 90 days before ``data_through`` (falls back to
  the average order value when no customer is that old yet).
- Per topic (:func:`topic_stats`): volume in the last 28 days, resolution rate, and the share
  of conversations followed by an order within 30 days, separately for resolved and
  unresolved conversations (conversations of the last 30 days are too recent to count). Topic
  rates are shrunk towards the all-topic rates (a prior worth ``prior_strength`` conversations).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flywheel_pipeline.insights._common import as_date, end_of_day, to_utc_naive


@dataclass(frozen=True)
class ImpactAssumptions:
    """Effect sizes of actions: assumptions, stated in every rationale. Replace them with
    measured lifts from ``flywheel.recommendation_outcomes`` as they accumulate."""

    #: share of the unresolved askers of a topic that a new help page would resolve
    create_content_reach: float = 0.30
    #: share of the unresolved askers that improving the existing page would resolve
    fix_content_reach: float = 0.20
    #: relative increase of a lead's conversion probability from a personal follow-up
    follow_up_relative_lift: float = 0.20
    #: odds ratio of winning an open deal when the sales team gives it focused attention (an
    #: odds ratio, not a relative lift: attention moves undecided deals most)
    attend_deal_odds_ratio: float = 1.5
    #: relative increase of an at-risk customer's purchase rate from a re-engagement offer,
    #: while the customer is still active (it does not bring back one who has left)
    reengage_relative_lift: float = 0.25
    #: share of a query's click gap to the site's CTR curve that a rewritten title and
    #: description close
    rewrite_title_gap_closed: float = 0.50
    #: relative increase of a promoter's referral rate when asked for a referral
    ask_referral_relative_lift: float = 0.50
    #: horizon of the impact unit, in days
    horizon_days: int = 90


#: the days after its first order whose revenue is a new customer's worth
NEW_CUSTOMER_DAYS = 90


@dataclass(frozen=True)
class ShopEconomics:
    average_order_value: float
    revenue_per_new_customer_90d: float
    orders: int
    customers_with_90d_history: int

    def describe(self) -> str:
        return (
            f"average order value {self.average_order_value:,.2f} over {self.orders} orders; "
            f"a new customer spends {self.revenue_per_new_customer_90d:,.2f} in the first 90 "
            f"days ({self.customers_with_90d_history} customers with 90 days of history)"
        )


def shop_economics(orders: pd.DataFrame | None, data_through: dt.date) -> ShopEconomics:
    """``orders``: contact_id, ordered_at, revenue (the warehouse computes the same in
    :mod:`.inputs`)."""
    if orders is None or orders.empty:
        return ShopEconomics(0.0, 0.0, 0, 0)
    o = orders[["contact_id", "ordered_at", "revenue"]].copy()
    o["ordered_at"] = to_utc_naive(o["ordered_at"])
    o = o[o["ordered_at"] < end_of_day(as_date(data_through))].dropna(subset=["ordered_at"])
    if o.empty:
        return ShopEconomics(0.0, 0.0, 0, 0)
    aov = float(o["revenue"].fillna(0).mean())
    first = o.groupby("contact_id")["ordered_at"].transform("min")
    window = pd.Timedelta(days=NEW_CUSTOMER_DAYS)
    mature = o[first < end_of_day(as_date(data_through)) - window]
    in_window = mature[mature["ordered_at"] < first[mature.index] + window]
    n_mature = int(mature["contact_id"].nunique())
    per_customer = (
        float(in_window.groupby("contact_id")["revenue"].sum().mean()) if n_mature else aov
    )
    return ShopEconomics(aov, per_customer, len(o), n_mature)


#: conversations of the last WINDOW_DAYS are a topic's recent volume; an order within
#: ORDER_WINDOW_DAYS after a conversation counts as following it
WINDOW_DAYS = 28
ORDER_WINDOW_DAYS = 30
#: a topic's order rates are shrunk towards the all-topic ones with a prior worth this many
#: conversations
PRIOR_STRENGTH = 30.0
#: :func:`topic_outcomes`' columns: conversations counted per topic and outcome (the nullable
#: booleans are unknown where the data cannot tell)
TOPIC_OUTCOME_COLUMNS = ["topic_id", "resolved", "ordered_after", "recent", "conversations"]
#: :func:`topic_stats`' columns
STAT_COLUMNS = [
    "topic_id",
    "conversations_total",
    "conversations_recent",
    "resolution_rate",
    "order_rate_resolved",
    "n_resolved_known",
    "order_rate_unresolved",
    "n_unresolved_known",
]


def latest_assignments(assignments: pd.DataFrame) -> pd.DataFrame:
    """The rows of the topic model's latest run (``data_through``) where several are kept."""
    if "data_through" in assignments and len(assignments):
        return assignments[assignments["data_through"] == assignments["data_through"].max()]
    return assignments


def topic_id_text(topic_ids: pd.Series) -> pd.Series:
    """Topic ids as the recommendations' target ids: ``"3"``, also where a topic-less
    conversation has made the column float (``3.0``)."""
    if pd.api.types.is_float_dtype(topic_ids):
        topic_ids = topic_ids.astype("Int64")
    return topic_ids.astype(str)


def topic_outcomes(
    assignments: pd.DataFrame,
    conversations: pd.DataFrame,
    orders: pd.DataFrame | None,
    data_through: dt.date,
    *,
    window_days: int = WINDOW_DAYS,
    order_window_days: int = ORDER_WINDOW_DAYS,
) -> pd.DataFrame:
    """Conversations up to ``data_through`` counted per topic_id × resolved × ordered_after ×
    recent (:data:`TOPIC_OUTCOME_COLUMNS`): all :func:`topic_stats` needs. ``ordered_after``
    is whether the contact ordered within ``order_window_days`` of the conversation, unknown
    for anonymous conversations, for those too recent to tell and in a shop without orders
    by ``data_through``; ``recent``: started in the last ``window_days``. The warehouse
    counts the same in :mod:`.inputs`.

    ``assignments``: conversation_id, topic_id (data_through: the latest run's only).
    ``conversations``: conversation_id, started_at, resolved, contact_id (optional).
    ``orders``: contact_id, ordered_at.
    """
    stop = end_of_day(as_date(data_through))
    c = latest_assignments(assignments)[["conversation_id", "topic_id"]].merge(
        conversations.drop(columns=["topic_id"], errors="ignore"), on="conversation_id"
    )
    c["started_at"] = to_utc_naive(c["started_at"])
    c = c[c["started_at"] < stop]
    c["resolved"] = c.get("resolved", pd.Series(np.nan, index=c.index)).astype("boolean")
    c["ordered_after"] = pd.array([pd.NA] * len(c), dtype="boolean")
    o = pd.DataFrame(columns=["contact_id", "ordered_at"])
    if orders is not None and len(orders):
        o = orders[["contact_id", "ordered_at"]].assign(
            ordered_at=to_utc_naive(orders["ordered_at"])
        )
        o = o[o["ordered_at"] < stop]
    if len(o) and "contact_id" in c.columns:  # without orders by then, no outcome is known
        mature = c["started_at"] < stop - pd.Timedelta(days=order_window_days)
        pairs = c.loc[
            mature & c["contact_id"].notna(), ["conversation_id", "contact_id", "started_at"]
        ]
        joined = pairs.merge(o, on="contact_id")
        ok = (joined["ordered_at"] >= joined["started_at"]) & (
            joined["ordered_at"] < joined["started_at"] + pd.Timedelta(days=order_window_days)
        )
        ordered_ids = set(joined.loc[ok, "conversation_id"])
        c.loc[mature, "ordered_after"] = c.loc[mature, "conversation_id"].isin(ordered_ids)
        # anonymous conversations cannot be followed to an order: leave them unknown
        c.loc[c["contact_id"].isna(), "ordered_after"] = pd.NA
    c["recent"] = c["started_at"] >= stop - pd.Timedelta(days=window_days)
    keys = TOPIC_OUTCOME_COLUMNS[:-1]
    counts = c.groupby(keys, dropna=False, observed=True).size()
    return counts.rename("conversations").reset_index()[TOPIC_OUTCOME_COLUMNS]


def _share(counts: pd.DataFrame, hit: pd.Series, among: pd.Series) -> tuple[float, int]:
    """(conversations where ``hit`` ÷ those ``among``, how many are ``among``)."""
    n = int(counts.loc[among, "conversations"].sum())
    hits = int(counts.loc[among & hit, "conversations"].sum())
    return (hits / n if n else np.nan), n


def _rates(counts: pd.DataFrame) -> dict:
    known = counts["ordered_after"].notna()
    ordered = counts["ordered_after"].fillna(False).astype(bool)
    resolved = counts["resolved"].fillna(False).astype(bool)
    r_rate, r_n = _share(counts, ordered, known & resolved)
    u_rate, u_n = _share(counts, ordered, known & ~resolved)
    resolution, _ = _share(counts, resolved, counts["resolved"].notna())
    return {
        "order_rate_resolved": r_rate,
        "n_resolved_known": r_n,
        "order_rate_unresolved": u_rate,
        "n_unresolved_known": u_n,
        "resolution_rate": resolution,
    }


def topic_stats(
    outcomes: pd.DataFrame,
    *,
    window_days: int = WINDOW_DAYS,
    order_window_days: int = ORDER_WINDOW_DAYS,
    prior_strength: float = PRIOR_STRENGTH,
) -> tuple[pd.DataFrame, dict]:
    """Per-topic volume, resolution and order rates, and the all-topic rates, from the
    counted ``outcomes`` (:func:`topic_outcomes`, counted with the same windows).

    Per topic: topic_id, conversations_total, conversations_recent (last ``window_days``),
    resolution_rate, order_rate_resolved, order_rate_unresolved (shrunk), n_resolved_known,
    n_unresolved_known.
    """
    overall = _rates(outcomes)
    overall["window_days"] = window_days
    overall["order_window_days"] = order_window_days
    rows = []
    for topic_id, g in outcomes.dropna(subset=["topic_id"]).groupby("topic_id", sort=True):
        r = _rates(g)
        for kind in ("resolved", "unresolved"):
            n = r[f"n_{kind}_known"]
            local = r[f"order_rate_{kind}"] if n else 0.0
            prior = overall[f"order_rate_{kind}"]
            prior = 0.0 if pd.isna(prior) else prior
            r[f"order_rate_{kind}"] = (local * n + prior * prior_strength) / (n + prior_strength)
        rows.append(
            {
                "topic_id": topic_id,
                "conversations_total": int(g["conversations"].sum()),
                "conversations_recent": int(g.loc[g["recent"].astype(bool), "conversations"].sum()),
                **r,
            }
        )
    return pd.DataFrame(rows, columns=STAT_COLUMNS), overall
