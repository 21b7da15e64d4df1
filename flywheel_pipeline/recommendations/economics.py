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
    """``orders``: contact_id, ordered_at, revenue."""
    if orders is None or orders.empty:
        return ShopEconomics(0.0, 0.0, 0, 0)
    o = orders[["contact_id", "ordered_at", "revenue"]].copy()
    o["ordered_at"] = to_utc_naive(o["ordered_at"])
    o = o[o["ordered_at"] < end_of_day(as_date(data_through))].dropna(subset=["ordered_at"])
    if o.empty:
        return ShopEconomics(0.0, 0.0, 0, 0)
    aov = float(o["revenue"].fillna(0).mean())
    first = o.groupby("contact_id")["ordered_at"].transform("min")
    mature_cut = end_of_day(as_date(data_through)) - pd.Timedelta(days=90)
    mature = o[first < mature_cut]
    in_window = mature[mature["ordered_at"] < first[mature.index] + pd.Timedelta(days=90)]
    n_mature = int(mature["contact_id"].nunique())
    per_customer = (
        float(in_window.groupby("contact_id")["revenue"].sum().mean()) if n_mature else aov
    )
    return ShopEconomics(aov, per_customer, len(o), n_mature)


def _rate(hits: pd.Series) -> tuple[float, int]:
    return (float(hits.mean()) if len(hits) else np.nan), len(hits)


def topic_stats(
    assignments: pd.DataFrame,
    conversations: pd.DataFrame,
    orders: pd.DataFrame | None,
    data_through: dt.date,
    *,
    window_days: int = 28,
    order_window_days: int = 30,
    prior_strength: float = 30.0,
) -> tuple[pd.DataFrame, dict]:
    """Per-topic volume, resolution and order rates, and the all-topic rates.

    Per topic: topic_id, conversations_total, conversations_recent (last ``window_days``),
    resolution_rate, order_rate_resolved, order_rate_unresolved (shrunk), n_resolved_known,
    n_unresolved_known.

    ``assignments``: conversation_id, topic_id. ``conversations``: conversation_id,
    started_at, resolved, contact_id (optional). ``orders``: contact_id, ordered_at.
    """
    stop = end_of_day(as_date(data_through))
    c = assignments[["conversation_id", "topic_id"]].merge(
        conversations.drop(columns=["topic_id"], errors="ignore"), on="conversation_id"
    )
    c["started_at"] = to_utc_naive(c["started_at"])
    c = c[c["started_at"] < stop]
    c["resolved"] = c.get("resolved", pd.Series(np.nan, index=c.index)).astype("boolean")
    c["ordered_after"] = pd.array([pd.NA] * len(c), dtype="boolean")
    if orders is not None and len(orders) and "contact_id" in c.columns:
        o = orders[["contact_id", "ordered_at"]].copy()
        o["ordered_at"] = to_utc_naive(o["ordered_at"])
        o = o[o["ordered_at"] < stop]
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

    def rates(frame: pd.DataFrame) -> dict:
        known = frame.dropna(subset=["ordered_after"])
        res = known[known["resolved"].fillna(False)]
        unres = known[~known["resolved"].fillna(False)]
        r_rate, r_n = _rate(res["ordered_after"].astype(float))
        u_rate, u_n = _rate(unres["ordered_after"].astype(float))
        return {
            "order_rate_resolved": r_rate,
            "n_resolved_known": r_n,
            "order_rate_unresolved": u_rate,
            "n_unresolved_known": u_n,
        }

    overall = rates(c)
    resolved_known = c["resolved"].dropna()
    overall["resolution_rate"] = float(resolved_known.mean()) if len(resolved_known) else np.nan
    overall["window_days"] = window_days
    overall["order_window_days"] = order_window_days
    recent = c["started_at"] >= stop - pd.Timedelta(days=window_days)
    rows = []
    for topic_id, g in c.groupby("topic_id", sort=True):
        r = rates(g)
        for kind in ("resolved", "unresolved"):
            n = r[f"n_{kind}_known"]
            local = r[f"order_rate_{kind}"] if n else 0.0
            prior = overall[f"order_rate_{kind}"]
            prior = 0.0 if pd.isna(prior) else prior
            r[f"order_rate_{kind}"] = (local * n + prior * prior_strength) / (n + prior_strength)
        res = g["resolved"].dropna()
        rows.append(
            {
                "topic_id": topic_id,
                "conversations_total": len(g),
                "conversations_recent": int(recent[g.index].sum()),
                "resolution_rate": float(res.mean()) if len(res) else np.nan,
                **r,
            }
        )
    return pd.DataFrame(rows), overall
