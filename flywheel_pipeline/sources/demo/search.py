"""Search Console rows: date × query × page × country × device with clicks and positions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.catalog import (
    COUNTRY_MIX,
    GSC_COUNTRIES,
    GSC_DEVICES,
    PAGE_INDEX,
    TOPIC_INDEX,
    TOPICS,
    demand,
    topic_weights,
)
from flywheel_pipeline.sources.demo.config import DOMAIN, Calendar, day_rng
from flywheel_pipeline.sources.demo.draws import binomial_from_u, poisson_from_u
from flywheel_pipeline.sources.demo.effects import AppliedActions, effect
from flywheel_pipeline.sources.demo.queries import expected_ctr, visibility

_DEVICE_MIX = np.array([0.375, 0.595, 0.03])
_DEVICE_CTR = np.array([1.08, 0.96, 1.0])
_DEVICE_POS = np.array([0.0, 0.3, 0.1])


def _effect_schedule(
    queries: pd.DataFrame, cal: Calendar, actions: AppliedActions
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per day × query: mean position, CTR factor and page index after planted effects."""
    n_days, n_q = len(cal), len(queries)
    pos = np.broadcast_to(queries["position"].to_numpy(), (n_days, n_q)).copy()
    factor = np.broadcast_to(queries["true_ctr_factor"].to_numpy(), (n_days, n_q)).copy()
    page = np.broadcast_to(queries["page_idx"].to_numpy(), (n_days, n_q)).copy()
    days = cal.days[:, None]
    topic = queries["topic_key"].to_numpy()
    planned = queries["planned_page"].to_numpy()
    for target, start in actions.dates("create_content").items():
        hit = (topic == target) | (planned == target)
        if not hit.any():
            continue
        live = (days >= start) & hit[None, :]
        pos = np.where(live, pos * (1 + effect("create_content", "topic_query_position")), pos)
        new_page = np.array([PAGE_INDEX.get(p, -1) for p in planned])
        page = np.where(live & (new_page >= 0)[None, :], new_page[None, :], page)
    q_text = queries["query"].to_numpy()
    q_page = queries["page"].to_numpy()
    for target, start in actions.dates("rewrite_title").items():
        path = target.removeprefix(DOMAIN)
        hit = (q_text == target) | (q_page == path)
        live = (days >= start) & hit[None, :]
        factor = np.where(live, factor * (1 + effect("rewrite_title", "query_ctr")), factor)
    return np.maximum(pos, 1.0), factor, page


def simulate_search(
    queries: pd.DataFrame, cal: Calendar, seed: int, actions: AppliedActions
) -> pd.DataFrame:
    """Search Console rows with impressions > 0 (what the API returns), unsorted columns fixed."""
    pos_mean, factor, page = _effect_schedule(queries, cal, actions)
    n_q = len(queries)
    n_c, n_v = len(GSC_COUNTRIES), len(GSC_DEVICES)
    day_demand = demand(cal.days)
    topic_idx = queries["topic_key"].map(TOPIC_INDEX).to_numpy()
    has_topic = ~pd.isna(topic_idx)
    # Searches about a topic rise with it (relative to the topic's weight at the epoch).
    tw = topic_weights(cal.days) / np.array([t.weight for t in TOPICS])[None, :]
    topic_trend = np.ones((len(cal), n_q))
    topic_trend[:, has_topic] = tw[:, topic_idx[has_topic].astype(int)]
    volume = queries["search_volume"].to_numpy()
    split = COUNTRY_MIX[:, None] * _DEVICE_MIX[None, :]  # countries × devices
    frames = []
    for i, day in enumerate(cal.days):
        rng = day_rng(seed, "gsc", day)
        drift = rng.normal(0, 0.25, n_q)  # rankings move a little from day to day
        noise = rng.normal(0, 1, (n_q, n_c, n_v))
        mean = pos_mean[i] * np.exp(0.04 * drift)
        row_pos = (
            mean[:, None, None]
            + _DEVICE_POS[None, None, :]
            + noise * (0.3 + 0.05 * mean)[:, None, None]
        )
        row_pos = np.maximum(row_pos, 1.0)
        lam = (
            (volume * day_demand[i] * topic_trend[i])[:, None, None]
            * split[None]
            * visibility(row_pos)
        )
        impressions = poisson_from_u(rng.random(lam.shape), lam)
        ctr = np.minimum(
            expected_ctr(row_pos) * factor[i][:, None, None] * _DEVICE_CTR[None, None, :], 0.95
        )
        clicks = binomial_from_u(impressions, ctr, rng.random(lam.shape))
        q, c, v = np.nonzero(impressions)
        frames.append(
            pd.DataFrame(
                {
                    "date": np.full(len(q), day).astype("datetime64[ns]"),
                    "query_idx": q,
                    "page_idx": page[i][q],
                    "country_idx": c,
                    "device_idx": v,
                    "clicks": clicks[q, c, v].astype(np.int64),
                    "impressions": impressions[q, c, v].astype(np.int64),
                    "position": np.round(row_pos[q, c, v], 2),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def gsc_frame(rows: pd.DataFrame, queries: pd.DataFrame, page_paths: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "date": rows["date"].to_numpy(),
            "query": queries["query"].to_numpy()[rows["query_idx"].to_numpy()],
            "page": DOMAIN + page_paths[rows["page_idx"].to_numpy()],
            "country": np.array(GSC_COUNTRIES)[rows["country_idx"].to_numpy()],
            "device": np.array(GSC_DEVICES)[rows["device_idx"].to_numpy()],
            "clicks": rows["clicks"].to_numpy(),
            "impressions": rows["impressions"].to_numpy(),
        }
    )
    frame["ctr"] = np.round(frame["clicks"] / frame["impressions"], 6)
    frame["position"] = rows["position"].to_numpy()
    return frame.sort_values(["date", "query", "page", "country", "device"], ignore_index=True)
