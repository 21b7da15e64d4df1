"""Paid campaigns: daily spend, ad impressions and clicks.

Budgets move in weekly steps (what a media buyer does), so spend varies enough for a model to
see that paid sessions follow spend with diminishing returns (clicks ∝ spend^0.85). An applied
``shift_budget`` moves money between two campaigns from its day on (:func:`shift_budgets`);
clicks and impressions then follow the new spend through the same fixed noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.catalog import (
    CAMPAIGNS,
    SOURCES,
    SPEND_ELASTICITY,
    in_window,
    weekday,
)
from flywheel_pipeline.sources.demo.config import Calendar, day_rng
from flywheel_pipeline.sources.demo.effects import (
    SHIFT_BUDGET_MAX_GIVER_SHARE,
    AppliedActions,
    budget_pair,
    effect,
)

_SPEND_WEEKDAY = np.array([1.05, 1.05, 1.0, 1.0, 0.95, 0.95, 1.0])


def simulate_ads(cal: Calendar, seed: int, scale: float, actions: AppliedActions) -> pd.DataFrame:
    """One row per campaign and day it ran: spend, impressions, clicks (ad platform view)."""
    n_days, n_camp = len(cal), len(CAMPAIGNS)
    monday = cal.days - weekday(cal.days).astype("timedelta64[D]")
    level = np.empty((n_days, n_camp))
    noise = np.empty((n_days, n_camp, 3))
    for i, day in enumerate(cal.days):
        # The weekly budget level comes from the Monday's stream: a step function over weeks.
        level[i] = np.exp(day_rng(seed, "ads:week", monday[i]).normal(0, 0.28, n_camp))
        noise[i] = day_rng(seed, "ads:day", day).normal(0, 1, (n_camp, 3))
    budget = CAMPAIGNS["budget"].to_numpy()[None, :] * scale
    spend = (
        budget * level * _SPEND_WEEKDAY[weekday(cal.days)][:, None] * np.exp(0.08 * noise[..., 0])
    )
    for j, flight in enumerate(CAMPAIGNS["flight"]):
        if flight is not None:
            spend[:, j] *= in_window(cal.days, flight)
    campaign_names = SOURCES.loc[CAMPAIGNS["source_idx"], "campaign"].to_numpy()
    spend = np.round(shift_budgets(spend, cal.days, campaign_names, actions), 2)
    # Clicks follow spend with diminishing returns; the scale term keeps per-euro yield fixed
    # when the whole business grows.
    click_k = CAMPAIGNS["click_k"].to_numpy()[None, :]
    expected = click_k * spend**SPEND_ELASTICITY * scale ** (1 - SPEND_ELASTICITY)
    clicks = np.round(expected * np.exp(0.06 * noise[..., 1])).astype(np.int64)
    ad_ctr = CAMPAIGNS["ad_ctr"].to_numpy()[None, :]
    impressions = np.round(clicks / (ad_ctr * np.exp(0.1 * noise[..., 2]))).astype(np.int64)
    src = SOURCES.loc[CAMPAIGNS["source_idx"]]
    frame = pd.DataFrame(
        {
            "date": np.repeat(cal.days.astype("datetime64[ns]"), n_camp),
            "source_idx": np.tile(CAMPAIGNS["source_idx"].to_numpy(), n_days),
            "source": np.tile(src["source"].to_numpy(), n_days),
            "medium": np.tile(src["medium"].to_numpy(), n_days),
            "campaign": np.tile(src["campaign"].to_numpy(), n_days),
            "spend": spend.ravel(),
            "impressions": impressions.ravel(),
            "clicks": clicks.ravel(),
        }
    )
    return frame[frame["spend"] > 0].reset_index(drop=True)


def shift_budgets(
    spend: np.ndarray, days: np.ndarray, campaigns: np.ndarray, actions: AppliedActions
) -> np.ndarray:
    """Spend (days × campaigns) after the applied ``shift_budget`` actions.

    Each pair ``"<giver> -> <receiver>"`` moves, every day from its start, the planted share of
    the receiver's spend that day (before any shift) from the giver to the receiver, at most
    ``SHIFT_BUDGET_MAX_GIVER_SHARE`` of the giver's spend that day. Total spend is unchanged;
    a pair naming an unknown campaign moves nothing. Pairs are applied in a fixed (sorted)
    order, each computed from the spend before any shift.
    """
    share = effect("shift_budget", "campaign_spend")
    column = {str(name): j for j, name in enumerate(campaigns)}
    out = spend.copy()
    for target, start in sorted(actions.dates("shift_budget").items()):
        giver, receiver = budget_pair(target)
        if giver not in column or receiver not in column:
            continue
        g, r = column[giver], column[receiver]
        moved = np.minimum(share * spend[:, r], SHIFT_BUDGET_MAX_GIVER_SHARE * spend[:, g])
        moved = np.where(days >= start, moved, 0.0)
        out[:, r] += moved
        out[:, g] -= moved
    return out


def paid_clicks_matrix(ads: pd.DataFrame, cal: Calendar, n_sources: int) -> np.ndarray:
    """Ad clicks per day × traffic source (zeros for unpaid sources)."""
    out = np.zeros((len(cal), n_sources))
    day_idx = (ads["date"].to_numpy().astype("datetime64[D]") - cal.start).astype(np.int64)
    np.add.at(out, (day_idx, ads["source_idx"].to_numpy()), ads["clicks"].to_numpy())
    return out
