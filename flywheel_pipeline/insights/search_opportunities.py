"""Search opportunities: the site's own CTR-by-position curve, and the queries worth work.

Method (SPEC §6, "Search opportunities"):

- **Grain.** Search Console rows (date × query × page × country × device) are summed per
  query × page over a window of ``WINDOW_DAYS`` (28) ending ``data_through`` (the last date in
  the data): impressions, clicks, impression-weighted mean position. Query rows are never
  summed into site totals (anonymised queries are missing from them).
- **Curve.** Per position bucket (rounded position 1…20), the impression-weighted *median*
  CTR of the query-pages in the bucket (robust to brand queries and to the very
  under-performers we look for), shrunk towards the public prior curve with the weight of
  ``PRIOR_IMPRESSIONS`` impressions, then made non-increasing in position (isotonic
  regression). Below ``MIN_PAIRS`` query-pages with ``MIN_IMPRESSIONS`` impressions the data
  cannot support a curve (cold start): the public prior serves and model_runs says
  ``cold_start`` = 1.
- **Evaluation (time split).** The curve fitted on the previous window (days −55…−28) predicts
  the CTR of every query-page of the latest window from its position; the
  impression-weighted mean absolute CTR error is reported beside the public prior's error
  (the naive baseline).
- **Opportunities** (latest window, query-pages with at least ``MIN_IMPRESSIONS``):
  ``ctr_underperformer`` — position ≤ 10 and clicks significantly below the curve (one-sided
  binomial p < ``ALPHA``): a title/snippet rewrite candidate, gain = expected − actual clicks;
  ``striking_distance`` — mean position in (``STRIKING_FROM``, 20]: gain = clicks at
  position 3 on today's impressions − actual clicks (a lower bound: moving up also raises
  impressions, which we cannot observe).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom
from sklearn.isotonic import IsotonicRegression

from flywheel_pipeline.insights._common import as_date, empty_model_runs, model_run_rows

MODEL_NAME = "search_ctr_curve"
WINDOW_DAYS = 28
# the latest window and the one before it (the time split's training window)
HISTORY_DAYS = 2 * WINDOW_DAYS
MIN_IMPRESSIONS = 100
MIN_PAIRS = 30
PRIOR_IMPRESSIONS = 2_000
MAX_BUCKET = 20
ALPHA = 0.01
STRIKING_FROM = 4.0
TARGET_POSITION = 3
# Public CTR-by-position priors (NOTES.md: #1 ≈ 28 %, #3 ≈ 11 %, #10 ≈ 2.5 %, page 2 < 1 %).
PRIOR_POINTS = np.array(
    [
        [1, 0.28],
        [2, 0.16],
        [3, 0.11],
        [4, 0.08],
        [5, 0.06],
        [6, 0.047],
        [7, 0.038],
        [8, 0.032],
        [9, 0.028],
        [10, 0.025],
        [15, 0.01],
        [20, 0.005],
    ]
)
OPPORTUNITY_COLUMNS = [
    "query",
    "page",
    "opportunity_type",
    "impressions_28d",
    "clicks_28d",
    "ctr",
    "avg_position",
    "expected_ctr",
    "target_position",
    "estimated_click_gain_28d",
    "p_value",
    "data_through",
]
CURVE_COLUMNS = ["position", "expected_ctr", "prior_ctr", "impressions", "data_through"]


def prior_ctr(position: np.ndarray | float) -> np.ndarray:
    pos = np.clip(np.asarray(position, dtype=np.float64), 1.0, float(MAX_BUCKET))
    return np.exp(np.interp(pos, PRIOR_POINTS[:, 0], np.log(PRIOR_POINTS[:, 1])))


@dataclass(frozen=True)
class CtrCurve:
    """Expected CTR for buckets 1…MAX_BUCKET; positions in between are interpolated."""

    ctr: np.ndarray  # index 0 = position 1
    impressions: np.ndarray
    cold_start: bool

    def __call__(self, position: np.ndarray | float) -> np.ndarray:
        pos = np.clip(np.asarray(position, dtype=np.float64), 1.0, float(MAX_BUCKET))
        buckets = np.arange(1, MAX_BUCKET + 1, dtype=np.float64)
        return np.exp(np.interp(pos, buckets, np.log(self.ctr)))


@dataclass(frozen=True)
class SearchOpportunities:
    opportunities: pd.DataFrame
    curve: pd.DataFrame
    model_runs: pd.DataFrame
    data_through: dt.date | None
    cold_start: bool


def query_pages(rows: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Per query × page over `first`..`last`: impressions, clicks, weighted mean position."""
    days = pd.to_datetime(rows["report_date"]).dt.date
    window = rows[(days >= first) & (days <= last)]
    weighted = window.assign(_pos_x_impr=window["avg_position"] * window["impressions"])
    pairs = weighted.groupby(["search_query", "page_url"], as_index=False).agg(
        impressions=("impressions", "sum"),
        clicks=("clicks", "sum"),
        _pos_x_impr=("_pos_x_impr", "sum"),
    )
    pairs = pairs[pairs["impressions"] > 0]
    pairs["avg_position"] = pairs["_pos_x_impr"] / pairs["impressions"]
    pairs["ctr"] = pairs["clicks"] / pairs["impressions"]
    return pairs.drop(columns="_pos_x_impr").reset_index(drop=True)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def fit_curve(pairs: pd.DataFrame) -> CtrCurve:
    """The site's curve from query-pages with enough impressions (see module docstring)."""
    usable = pairs[pairs["impressions"] >= MIN_IMPRESSIONS]
    buckets = np.arange(1, MAX_BUCKET + 1)
    prior = prior_ctr(buckets)
    if len(usable) < MIN_PAIRS:
        return CtrCurve(prior, np.zeros(MAX_BUCKET), cold_start=True)
    bucket = np.clip(np.rint(usable["avg_position"].to_numpy()), 1, MAX_BUCKET).astype(int)
    ctr = prior.copy()
    impressions = np.zeros(MAX_BUCKET)
    for b in buckets:
        members = bucket == b
        if not members.any():
            continue
        weight = usable["impressions"].to_numpy()[members].astype(np.float64)
        median = _weighted_median(usable["ctr"].to_numpy()[members], weight)
        impressions[b - 1] = weight.sum()
        share = weight.sum() / (weight.sum() + PRIOR_IMPRESSIONS)
        ctr[b - 1] = share * median + (1 - share) * prior[b - 1]
    monotone = IsotonicRegression(increasing=False, y_min=1e-5).fit(
        buckets, ctr, sample_weight=impressions + PRIOR_IMPRESSIONS
    )
    return CtrCurve(monotone.predict(buckets), impressions, cold_start=False)


def _weighted_abs_error(pairs: pd.DataFrame, predicted: np.ndarray) -> float:
    weights = pairs["impressions"].to_numpy(dtype=np.float64)
    return float(np.average(np.abs(pairs["ctr"].to_numpy() - predicted), weights=weights))


def find_search_opportunities(rows: pd.DataFrame) -> SearchOpportunities:
    """`rows`: staging.stg_gsc__search_analytics (report_date, search_query, page_url,
    clicks, impressions, avg_position)."""
    if rows.empty:
        return SearchOpportunities(
            pd.DataFrame(columns=OPPORTUNITY_COLUMNS),
            pd.DataFrame(columns=CURVE_COLUMNS),
            empty_model_runs(),
            None,
            True,
        )
    day = as_date(pd.to_datetime(rows["report_date"]).max())
    window = dt.timedelta(days=WINDOW_DAYS)
    latest = query_pages(rows, day - window + dt.timedelta(days=1), day)
    earlier = query_pages(rows, day - 2 * window + dt.timedelta(days=1), day - window)

    curve = fit_curve(latest)
    model_runs = _evaluate(earlier, latest, day)
    frame = _opportunities(latest, curve, day)
    buckets = np.arange(1, MAX_BUCKET + 1)
    curve_frame = pd.DataFrame(
        {
            "position": buckets,
            "expected_ctr": curve.ctr,
            "prior_ctr": prior_ctr(buckets),
            "impressions": curve.impressions.astype("int64"),
            "data_through": day,
        }
    )
    return SearchOpportunities(frame, curve_frame, model_runs, day, curve.cold_start)


def _evaluate(earlier: pd.DataFrame, latest: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    trained = fit_curve(earlier)
    holdout = latest[latest["impressions"] >= MIN_IMPRESSIONS]
    if holdout.empty:
        metrics = [("cold_start", 1.0, None)]
    else:
        position = holdout["avg_position"].to_numpy()
        metrics = [
            (
                "ctr_mae_weighted",
                _weighted_abs_error(holdout, trained(position)),
                _weighted_abs_error(holdout, prior_ctr(position)),
            ),
            ("cold_start", float(trained.cold_start), None),
        ]
    train_rows = int((earlier["impressions"] >= MIN_IMPRESSIONS).sum())
    return model_run_rows(MODEL_NAME, day, train_rows, len(holdout), metrics)


def _opportunities(pairs: pd.DataFrame, curve: CtrCurve, day: dt.date) -> pd.DataFrame:
    candidates = pairs[pairs["impressions"] >= MIN_IMPRESSIONS].copy()
    position = candidates["avg_position"].to_numpy()
    impressions = candidates["impressions"].to_numpy()
    clicks = candidates["clicks"].to_numpy()
    expected = curve(position)
    candidates["expected_ctr"] = expected
    candidates["p_value"] = binom.cdf(clicks, impressions, expected)

    under = candidates[(position <= 10.5) & (candidates["p_value"] < ALPHA)].assign(
        opportunity_type="ctr_underperformer",
        target_position=pd.NA,
    )
    under["estimated_click_gain_28d"] = (
        under["impressions"] * under["expected_ctr"] - under["clicks"]
    )
    striking = candidates[(position > STRIKING_FROM) & (position <= MAX_BUCKET)].assign(
        opportunity_type="striking_distance",
        target_position=TARGET_POSITION,
        p_value=np.nan,
    )
    striking["estimated_click_gain_28d"] = (
        striking["impressions"] * float(curve(TARGET_POSITION)) - striking["clicks"]
    )
    found = pd.concat([under, striking], ignore_index=True)
    found = found[found["estimated_click_gain_28d"] > 0]
    found = found.rename(
        columns={
            "search_query": "query",
            "page_url": "page",
            "impressions": "impressions_28d",
            "clicks": "clicks_28d",
        }
    )
    found["target_position"] = found["target_position"].astype("Int64")
    found["data_through"] = day
    found = found.sort_values(
        ["estimated_click_gain_28d", "query", "page", "opportunity_type"],
        ascending=[False, True, True, True],
        ignore_index=True,
    )
    return found[OPPORTUNITY_COLUMNS]
