"""Orders from a buy-till-you-die process, and what went wrong with them.

Each customer buys at Poisson rate λ per day while alive and, after every purchase, drops out
for good with probability p (the BG/NBD story). Expected orders over the next t days for a
customer alive now: (1 − exp(−λ·p·t)) / p.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.catalog import (
    POST_ORDER_MIX,
    SHIPPING_DISRUPTION,
    TOPIC_INDEX,
    in_window,
    mix_vector,
)
from flywheel_pipeline.sources.demo.config import days_to_ns
from flywheel_pipeline.sources.demo.effects import AppliedActions, effect
from flywheel_pipeline.sources.demo.people import Population

LATE_P = 0.06
LATE_P_DISRUPTED = 0.35
DAMAGED_P = 0.025
# Repeat web orders come back through the newsletter, direct visits or brand search.
REPEAT_ROUTES = ((8, "/collections/sale", 0.45), (2, "/", 0.35), (3, "/", 0.20))


def expected_orders(rate: np.ndarray, dropout: np.ndarray, days: float) -> np.ndarray:
    return -np.expm1(-rate * dropout * days) / dropout


def simulate_orders(
    pop: Population, end_ns: np.datetime64, actions: AppliedActions
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All orders up to `end_ns` (one row each, with experience flags) and per-customer truth."""
    df = pop.df
    buyer = df["converted_at"].notna().to_numpy() & (df["converted_at"].to_numpy() < end_ns)
    idx = np.nonzero(buyer)[0]
    n = len(idx)
    first = df["converted_at"].to_numpy()[idx]
    lam = df["lam"].to_numpy()[idx]
    drop_p = df["drop_p"].to_numpy()[idx]
    gaps = pop.mats["gap"][idx] / lam[:, None]
    # Capped at a century: slow buyers would otherwise overflow nanosecond timestamps.
    offsets = np.minimum(np.cumsum(gaps, axis=1), 36_500.0)
    times = first[:, None] + days_to_ns(np.concatenate([np.zeros((n, 1)), offsets], axis=1))
    start = actions.start_ns("reengage_customer", df["contact_id"].to_numpy()[idx])
    acted = ~np.isnat(start)
    boost = 1 + effect("reengage_customer", "purchase_rate")
    if acted.any():
        # A faster clock after the action: the same purchases, sooner.
        s = np.where(acted, start, first)[:, None]
        later = acted[:, None] & (times > s)
        squeezed = s + ((times - s).astype(np.float64) / boost).astype("timedelta64[ns]")
        times = np.where(later, squeezed, times)
    dropped = pop.mats["drop_u"][idx] < drop_p[:, None]
    alive_before = np.concatenate(
        [np.ones((n, 1), dtype=bool), np.cumprod(~dropped, axis=1)[:, :-1].astype(bool)], axis=1
    )
    exists = alive_before & (times < end_ns)
    is_alive = ~(exists & dropped).any(axis=1)
    lam_now = np.where(acted & (start < end_ns), lam * boost, lam)

    rows, slot = np.nonzero(exists)
    contact_row = idx[rows]
    b2b = df["is_b2b"].to_numpy()[contact_row]
    when = times[rows, slot]
    items_u = pop.mats["items_u"][contact_row, slot]
    price_z = pop.mats["price_z"][contact_row, slot]
    consumer_items = 1 + np.floor(np.log1p(-items_u) / np.log(0.45)).astype(np.int64)
    b2b_items = 10 + np.floor(items_u * 90).astype(np.int64)
    unit = np.where(b2b, 18.0 * np.exp(0.2 * price_z), 42.0 * np.exp(0.35 * price_z))
    items = np.where(b2b, b2b_items, consumer_items)
    revenue = items * unit
    # A won deal's first order is the deal itself.
    deal_first = b2b & (slot == 0) & df["has_deal"].to_numpy()[contact_row]
    deal_amount = df["deal_amount"].to_numpy()[contact_row]
    items = np.where(
        deal_first, np.maximum(1, np.round(deal_amount / unit)).astype(np.int64), items
    )
    revenue = np.where(deal_first, deal_amount, revenue)

    late_p = np.where(
        in_window(when.astype("datetime64[D]"), SHIPPING_DISRUPTION), LATE_P_DISRUPTED, LATE_P
    )
    late = pop.mats["late_u"][contact_row, slot] < late_p
    damaged = pop.mats["damaged_u"][contact_row, slot] < DAMAGED_P
    conv_u = pop.mats["oconv_u"][contact_row, slot]
    topic_cdf = np.cumsum(mix_vector(POST_ORDER_MIX))
    routine_topic = np.minimum(
        np.searchsorted(topic_cdf, pop.mats["oconv_topic_u"][contact_row, slot]), len(topic_cdf) - 1
    )
    conv_topic = np.where(
        late & (conv_u < 0.6),
        TOPIC_INDEX["shipping_delay"],
        np.where(
            damaged & (conv_u < 0.7),
            TOPIC_INDEX["damaged_item"],
            np.where(conv_u < 0.12, routine_topic, -1),
        ),
    )
    route_u = pop.mats["route_u"][contact_row, slot]
    route_cdf = np.cumsum([r[2] for r in REPEAT_ROUTES])
    route = np.minimum(np.searchsorted(route_cdf, route_u), len(REPEAT_ROUTES) - 1)

    contact_ids = pd.Series(df["contact_id"].to_numpy()[contact_row], dtype=object)
    order_ids = (
        "O" + contact_ids.str[1:] + "-" + pd.Series(slot + 1).map("{:02d}".format)
    ).to_numpy()
    orders = pd.DataFrame(
        {
            "contact_row": contact_row,
            "slot": slot,
            "order_id": order_ids,
            "contact_id": df["contact_id"].to_numpy()[contact_row],
            "ordered_at": when,
            "revenue": np.round(revenue, 2),
            "items": items.astype(np.int64),
            "is_b2b": b2b,
            "late": late,
            "damaged": damaged,
            "conv_topic": conv_topic,
            "conv_at": when + days_to_ns(pop.mats["oconv_delay"][contact_row, slot] + 0.05),
            "route": route,
        }
    )
    customers = pd.DataFrame(
        {
            "contact_row": idx,
            "contact_id": df["contact_id"].to_numpy()[idx],
            "purchase_rate_per_day": np.round(lam_now, 6),
            "dropout_p": np.round(drop_p, 6),
            "is_alive": is_alive,
            "expected_orders_90d": np.round(
                np.where(is_alive, expected_orders(lam_now, drop_p, 90.0), 0.0), 6
            ),
            "orders_to_date": exists.sum(axis=1),
        }
    )
    return orders, customers


def orders_frame(orders: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "order_id": orders["order_id"].to_numpy(),
            "contact_id": orders["contact_id"].to_numpy(),
            "ordered_at": pd.to_datetime(orders["ordered_at"].to_numpy()).tz_localize("UTC"),
            "revenue": orders["revenue"].to_numpy(),
            "items": orders["items"].to_numpy(),
        }
    )
    return frame.sort_values(["ordered_at", "order_id"], ignore_index=True)
