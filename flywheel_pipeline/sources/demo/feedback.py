"""NPS surveys after the first order, and the referrals that (mostly) promoters make."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.config import days_to_ns
from flywheel_pipeline.sources.demo.conversations import conversation_outcomes
from flywheel_pipeline.sources.demo.effects import AppliedActions, effect
from flywheel_pipeline.sources.demo.people import MAX_REFERRALS, Population

NPS_RESPONSE_P = 0.38
# Referrals per day by NPS category: promoters refer, passives rarely, detractors almost never.
REFERRAL_RATE = {"promoter": 1 / 90, "passive": 1 / 900, "detractor": 1 / 5000}
REFERRAL_WINDOW_DAYS = 180

_COMMENTS = {
    "promoter": (
        "Love the quality, will order again",
        "Fast delivery and the merino sweater fits perfectly",
        "Great customer service, the chat sorted everything quickly",
        "Beautiful fabrics and easy returns",
        "Best online clothing shop I know",
    ),
    "passive": (
        "Good quality but a bit pricey",
        "Delivery took a while but the clothes are nice",
        "Ok overall, sizing runs a bit small",
        "Nice products, website could be faster",
    ),
    "detractor": (
        "Parcel arrived late and nobody told me why",
        "Item arrived damaged and the replacement took weeks",
        "Could not get an answer from the chat bot",
        "Sizes are inconsistent, had to return twice",
        "Too expensive for the quality",
    ),
}


def nps_category(score: np.ndarray) -> np.ndarray:
    return np.where(score >= 9, "promoter", np.where(score >= 7, "passive", "detractor"))


def simulate_nps(pop: Population, orders: pd.DataFrame, end_ns: np.datetime64) -> pd.DataFrame:
    """One survey answer per responding customer, scored from their first-order experience."""
    first = orders[orders["slot"] == 0]
    row = first["contact_row"].to_numpy()
    df = pop.df
    responds = df["nps_u"].to_numpy()[row] < NPS_RESPONSE_P
    responded_at = first["ordered_at"].to_numpy() + days_to_ns(df["nps_delay"].to_numpy()[row])
    keep = responds & (responded_at < end_ns)
    first, row, responded_at = first[keep], row[keep], responded_at[keep]
    topic = first["conv_topic"].to_numpy()
    had_conv = (topic >= 0) & (first["conv_at"].to_numpy() < responded_at)
    resolved, _, _ = conversation_outcomes(np.maximum(topic, 0), pop.mats["oconv_out"][row, 0])
    # Orders the customer had placed by the time they answered.
    before = orders[["contact_row", "ordered_at"]].merge(
        pd.DataFrame({"contact_row": row, "responded_at": responded_at}), on="contact_row"
    )
    before = before[before["ordered_at"] < before["responded_at"]]
    n_orders = before.groupby("contact_row").size().reindex(row).fillna(1).to_numpy()
    score = (
        8.1
        + 1.5 * df["nps_z"].to_numpy()[row]
        - 2.6 * first["late"].to_numpy()
        - 2.0 * first["damaged"].to_numpy()
        - 1.8 * (had_conv & ~resolved)
        + 0.6 * (had_conv & resolved)
        + 0.2 * np.minimum(n_orders - 1, 3)
    )
    score = np.clip(np.round(score), 0, 10).astype(np.int64)
    category = nps_category(score)
    u = df["nps_comment_u"].to_numpy()[row]
    comment = np.array(
        [_COMMENTS[c][int(x * 1000) % len(_COMMENTS[c])] for c, x in zip(category, u, strict=True)],
        dtype=object,
    )
    comment = np.where(
        first["late"].to_numpy() & (category != "promoter"), _COMMENTS["detractor"][0], comment
    )
    comment = np.where(u < 0.45, None, comment)  # most people skip the comment box
    return pd.DataFrame(
        {
            "contact_row": row,
            "contact_id": df["contact_id"].to_numpy()[row],
            "responded_at": responded_at,
            "score": score,
            "comment": comment,
        }
    )


def simulate_referrals(
    pop: Population, nps: pd.DataFrame, end_ns: np.datetime64, actions: AppliedActions
) -> pd.DataFrame:
    """Referral events (referrer row, instant) up to `end_ns`; ask_referral doubles the rate."""
    row = nps["contact_row"].to_numpy()
    category = nps_category(nps["score"].to_numpy())
    rate = pd.Series(category).map(REFERRAL_RATE).to_numpy()
    start = nps["responded_at"].to_numpy()
    gaps = pop.mats["ref_gap"][row] / rate[:, None]
    times = start[:, None] + days_to_ns(np.minimum(np.cumsum(gaps, axis=1), 36_500.0))
    window_end = start + np.timedelta64(REFERRAL_WINDOW_DAYS, "D").astype("timedelta64[ns]")
    asked = actions.start_ns("ask_referral", nps["contact_id"].to_numpy())
    boost = 1 + effect("ask_referral", "referral_rate")
    acted = ~np.isnat(asked)
    if acted.any():
        s = np.where(acted, np.maximum(asked, start), start)[:, None]
        later = acted[:, None] & (times > s)
        squeezed = s + ((times - s).astype(np.float64) / boost).astype("timedelta64[ns]")
        times = np.where(later, squeezed, times)
    ok = (times < window_end[:, None]) & (times < end_ns)
    r, j = np.nonzero(ok)
    assert times.shape[1] == MAX_REFERRALS
    return pd.DataFrame({"referrer_row": row[r], "referred_at": times[r, j]}).sort_values(
        ["referred_at", "referrer_row"], ignore_index=True
    )
