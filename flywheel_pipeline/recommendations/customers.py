"""``reengage_customer``: a win-back offer for valuable customers whose P(alive) is dropping.

Targets: customers in ``ml.customer_value`` whose probability of still being an active buyer
is between ``MIN_P_ALIVE`` (below it they are most likely gone) and ``AT_RISK_P_ALIVE`` (above
it they need no win-back), ranked by expected impact — so the valuable ones come first.

Expected impact (revenue over the next 90 days) = assumed relative lift of the purchase rate
while the customer is still active × expected purchases in the next 90 days (the model's
``predicted_orders_90d``, already weighted by P(alive): the offer does not bring back a
customer who has left) × the customer's spend per purchase. Spend per purchase is the mean of
the customer's repeat purchase days, shrunk towards the shop's mean repeat purchase with a
prior worth ``SPEND_PRIOR_PURCHASES`` purchases (as the customer-value model does; first
purchases are left out because a won B2B deal is unlike the repeats the forecast is about).
Orders are joined on contact_id; ``ml.customer_value`` is keyed by the person's surviving
contact_id, so orders under a merged duplicate contact only reach the shop-wide means.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from flywheel_pipeline.insights._common import as_date, end_of_day, to_utc_naive
from flywheel_pipeline.recommendations._ids import candidate, model_confidence, money
from flywheel_pipeline.recommendations.economics import ImpactAssumptions, ShopEconomics

MAX_CUSTOMERS = 60
MIN_P_ALIVE = 0.10
AT_RISK_P_ALIVE = 0.50
SPEND_PRIOR_PURCHASES = 2.0

HISTORY_COLUMNS = ["purchases", "revenue", "first_day", "last_day", "repeats", "repeat_spend"]


@dataclass(frozen=True)
class KnownCustomers:
    """What :func:`reengage_candidates` needs of the orders and customers beyond the
    customers at risk themselves, as the warehouse reads it (recommendations/inputs.py)."""

    history: pd.DataFrame  # purchase_history of the customers at risk
    repeat_prior: float | None  # the shop's mean repeat purchase (None: no repeat purchase)
    customers: int  # customers with a value (customer_value rows)


def purchase_history(orders: pd.DataFrame | None, data_through: object) -> pd.DataFrame:
    """Per contact_id (index), from orders up to ``data_through`` with one purchase per
    calendar day: purchases, revenue, first_day, last_day, repeats (purchases after the first
    day) and repeat_spend (their mean value, NaN without repeats)."""
    if orders is None or orders.empty:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    o = orders[["contact_id", "ordered_at", "revenue"]].copy()
    o["ordered_at"] = to_utc_naive(o["ordered_at"])
    o = o[o["contact_id"].notna() & (o["ordered_at"] < end_of_day(as_date(data_through)))]
    if o.empty:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    o["day"] = o["ordered_at"].dt.normalize()
    days = o.groupby(["contact_id", "day"], as_index=False)["revenue"].sum()
    days["first"] = days.groupby("contact_id")["day"].transform("min")
    repeat = days[days["day"] > days["first"]]
    history = days.groupby("contact_id").agg(
        purchases=("day", "size"),
        revenue=("revenue", "sum"),
        first_day=("day", "min"),
        last_day=("day", "max"),
    )
    history["repeats"] = repeat.groupby("contact_id").size().reindex(history.index, fill_value=0)
    history["repeat_spend"] = repeat.groupby("contact_id")["revenue"].mean()
    return history[HISTORY_COLUMNS]


def repeat_prior(history: pd.DataFrame) -> float | None:
    """The mean repeat purchase over every customer of ``history`` (None without one)."""
    repeaters = history[history["repeats"] > 0]
    if not len(repeaters):
        return None
    return float(
        (repeaters["repeat_spend"] * repeaters["repeats"]).sum() / repeaters["repeats"].sum()
    )


def spend_per_purchase(
    history: pd.DataFrame, econ: ShopEconomics, prior: float | None
) -> tuple[pd.Series, float]:
    """Shrunk spend per repeat purchase per contact of ``history``, and the prior mean: the
    shop's mean repeat purchase ``prior``, else its average order value."""
    prior = econ.average_order_value if prior is None else prior
    n = history["repeats"].astype(float)
    own = history["repeat_spend"].fillna(0.0)
    spend = (own * n + prior * SPEND_PRIOR_PURCHASES) / (n + SPEND_PRIOR_PURCHASES)
    return spend, prior


def reengage_candidates(
    customer_value: pd.DataFrame,
    econ: ShopEconomics,
    *,
    data_through: object,
    assumptions: ImpactAssumptions,
    orders: pd.DataFrame | None = None,
    known: KnownCustomers | None = None,
    model_runs: pd.DataFrame | None = None,
    max_customers: int = MAX_CUSTOMERS,
    min_p_alive: float = MIN_P_ALIVE,
    at_risk_p_alive: float = AT_RISK_P_ALIVE,
) -> list[dict]:
    """``customer_value``: contact_id, predicted_orders_90d, predicted_clv_365d, p_alive.
    ``orders``: contact_id, ordered_at, revenue (spend per purchase and the evidence); or,
    with ``customer_value`` only the customers at risk, ``known`` instead."""
    if customer_value is None or customer_value.empty:
        return []
    values = customer_value.dropna(subset=["p_alive", "predicted_orders_90d"])
    at_risk = values[
        values["p_alive"].between(min_p_alive, at_risk_p_alive)
        & (values["predicted_orders_90d"] > 0)
    ].copy()
    if at_risk.empty:
        return []
    if known is None:
        history = purchase_history(orders, data_through)
        known = KnownCustomers(history, repeat_prior(history), len(values))
    history = known.history
    spend, prior_spend = spend_per_purchase(history, econ, known.repeat_prior)
    at_risk["spend"] = at_risk["contact_id"].map(spend).fillna(prior_spend)
    lift = assumptions.reengage_relative_lift
    at_risk["extra"] = lift * at_risk["predicted_orders_90d"]
    at_risk["impact"] = at_risk["extra"] * at_risk["spend"]
    at_risk = at_risk.sort_values(["impact", "contact_id"], ascending=[False, True])
    n_customers, n_at_risk = known.customers, len(at_risk)
    confidence, model_text = model_confidence(
        model_runs, "customer_value", baseline="the repeat rate so far"
    )
    day = pd.Timestamp(as_date(data_through))
    rows = []
    for rank, (_, c) in enumerate(at_risk.head(max_customers).iterrows(), start=1):
        cid = c["contact_id"]
        if cid in history.index:
            h = history.loc[cid]
            gap = (
                f", {(h['last_day'] - h['first_day']).days / h['repeats']:.0f} days between "
                f"purchases on average"
                if h["repeats"] > 0
                else ""
            )
            past = (
                f"{int(h['purchases'])} purchase days, {money(h['revenue'])} spent, the last "
                f"{(day - h['last_day']).days} days ago{gap}"
            )
            spend_text = (
                f"{money(c['spend'])} per purchase (their {int(h['repeats'])} repeat "
                f"purchase(s) shrunk towards the shop's {money(prior_spend)})"
                if h["repeats"] > 0
                else f"{money(c['spend'])} per purchase (the shop's mean repeat purchase)"
            )
        else:
            past = "no orders under this contact_id"
            spend_text = f"{money(c['spend'])} per purchase (the shop's mean repeat purchase)"
        rows.append(
            candidate(
                rec_type="reengage_customer",
                target_type="contact",
                target_id=cid,
                data_through=data_through,
                action=(
                    f"Re-engage customer {cid} with a personal win-back offer (a note from "
                    f"the team, a recommendation based on past orders, a loyalty discount)."
                ),
                rationale=(
                    f"Customer {cid}: {past}. P(alive) {c['p_alive']:.0%} (at risk: between "
                    f"{min_p_alive:.0%} and {at_risk_p_alive:.0%}; {n_at_risk} of {n_customers} "
                    f"customers), expected {c['predicted_orders_90d']:.2f} purchases in the next "
                    f"90 days, 365-day value {money(c.get('predicted_clv_365d', 0.0))}; rank "
                    f"{rank} by impact; {model_text}. Assuming a win-back raises the purchase rate "
                    f"by {lift:.0%} while the customer is still active: +{c['extra']:.3f} "
                    f"purchases × {spend_text} = {money(c['impact'])}."
                ),
                expected_impact=c["impact"],
                confidence=confidence,
                score=c["predicted_orders_90d"],
            )
        )
    return rows
