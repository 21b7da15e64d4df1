"""Search opportunities: the site's own CTR-by-position curve, and the queries worth work.

Method (SPEC §6, "Search opportunities"):

- **Grain.** Search Console rows (date × query × page, best per country × device as
  staging.stg_gsc__search_analytics has them; dbt's per-day sum works too) are summed per
  query × page over a window of ``WINDOW_DAYS`` (28) ending ``data_through`` (the last date in
  the data): impressions, clicks, impression-weighted mean position. Query rows are never
  summed into site totals (anonymised queries are missing from them). The clicks a curve
  expects of a query-page are summed **row by row** (impressions × curve at that row's own
  position): a query-page whose ranking moved, or that ranks on page one in one country or
  device and on page two in another, is judged at the positions it really held. A mean
  position hides that mix, and near the page break (CTR falls several-fold from #10 to #11,
  while page-one rows carry most impressions) it misstates the expected clicks.
- **Brand and navigational queries** are neither title rewrites nor ranking work, and their
  CTR (people looking for the site) would inflate the curve, so they are set aside before
  anything else. The site's name comes from its own URLs: the host without ``www``
  (``shop-example.co.uk`` → labels ``shopexample``, ``co``, ``uk``) written without spaces or
  punctuation. The names are the whole host (``shopexamplecouk``) and the longest run of
  leading labels (``shopexample``) that a navigational query contains. A query is
  **navigational** when it lands on the home page at a mean position ≤
  ``NAVIGATIONAL_POSITION``, **brand** when its letters and digits contain a name
  (``shop example returns`` → ``shopexamplereturns``).
- **Curve.** log CTR(p) = log prior(p) + g(p), g piecewise linear in position (knots 1…20),
  fitted to the non-brand query-pages with ≥ ``MIN_IMPRESSIONS`` impressions by penalised
  iteratively reweighted least squares on log(clicks / expected clicks): Huber weights with a
  small tuning (``HUBER_C``: in effect a median, robust to the under-performers we look for,
  and the curve a weighted absolute error favours), each query-page standardised by its
  Poisson noise and the dispersion below. g is a random walk over positions — stiff within a
  page (``STEP_SD``: with a few dozen query-pages, a site differs from the public curve in
  level and tilt, not position by position), looser around the page break
  (``BREAK_STEP_SD``) — pulled weakly towards 0, i.e. the public prior, where there is no
  data (``LEVEL_SD``); then made non-increasing in position (isotonic). Below ``MIN_PAIRS``
  such query-pages there is no site curve (cold start).
- **Champion/challenger (time split).** The site curve fitted on the previous window (days
  −55…−28) and the public prior both predict the CTR of every non-brand query-page of the
  latest window. Primary metric: impression-weighted mean absolute CTR error. The site curve
  (re-fitted on the latest window) serves only when it beats the prior; a cold start or a
  loss lets the prior serve, and ``model_runs`` says which serves and why.
  ``ml.search_ctr_curve.expected_ctr`` is the serving curve; ``impressions`` the evidence
  behind the site's curve.
- **Empirical null.** Against the serving curve, an *ordinary* query-page's CTR ratio θ is
  lognormal, log θ ~ N(c, τ²(position)), both estimated from the data over the last
  ``TEST_DAYS`` (112, 16 whole weeks so every weekday counts alike): a snippet's quality
  persists for months until its title changes, and four times the clicks of one window
  quarter the Poisson variance, so a 40 % shortfall on a query-page with ~15 expected clicks
  a month becomes visible (a recovered snippet is caught by the guard below). The centre c
  by a biweight M-estimate started at the precision-weighted median of the log ratios;
  the dispersion τ² by the method of moments on the query-pages **above**
  the centre only (log ratio²/(Poisson noise + τ²) averages 1 there), so the shortfalls we
  test for cannot inflate it and over-performers only make the test more cautious.
  τ²(p) = base + page_break × w(p): a mean position near or beyond the page-one/page-two break
  (w: a logistic step at ``PAGE_BREAK``) mixes impressions on both pages, whose CTRs differ
  several-fold, so the mean position says less there (position uncertainty). With fewer than
  ``MIN_ABOVE`` query-pages to measure it on, base is ``DEFAULT_DISPERSION``.
- **CTR under-performers** (non-brand, ≥ ``MIN_IMPRESSIONS`` impressions and mean position ≤
  ``MAX_UNDERPERFORMER_POSITION`` in the latest window): the one-sided p-value of the clicks
  over the evidence days under the Poisson-lognormal with the ordinary expectation (serving
  curve × e^c) — a small shortfall on few impressions is within noise, a large one on many is
  not — adjusted by **Benjamini–Hochberg** over every query-page tested (``p_value`` holds the
  adjusted value). Flagged when the adjusted p-value < ``FDR`` (on a site without poor
  snippets a false alarm in at most ``FDR`` of runs) **and** the CTR is at least
  ``MIN_SHORTFALL`` below the ordinary expectation (significant but small is not worth a
  rewrite) **and** it has not recovered: the latest 28 days' clicks are not significantly
  (one-sided Poisson at ``FDR``) above ``1 − MIN_SHORTFALL`` of the ordinary expectation, so
  a title rewritten within the long evidence window is not flagged on its old clicks.
  Gain = the serving curve's clicks − actual clicks over the latest 28 days.
- **Striking distance** (non-brand, mean position in (``STRIKING_FROM``, 20]): gain = clicks at
  position 3 on today's impressions − actual clicks (a lower bound: moving up also raises
  impressions, which we cannot observe).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from scipy.stats import poisson
from sklearn.isotonic import IsotonicRegression

from flywheel_pipeline.insights._common import (
    LOWER_IS_BETTER,
    SERVED_BY_BASELINE,
    SERVED_BY_MODEL,
    Serving,
    as_date,
    champion,
    empty_model_runs,
    metric_kinds,
    model_run_rows,
)

MODEL_NAME = "search_ctr_curve"
PRIMARY_METRIC = "ctr_mae_weighted"
# impression-weighted mean absolute CTR error of the curve on the latest window
METRIC_KINDS = metric_kinds({PRIMARY_METRIC: LOWER_IS_BETTER})
WINDOW_DAYS = 28
# Under-performer evidence: 16 whole weeks (weekday mix intact) of a snippet's clicks.
TEST_DAYS = 16 * 7
# What the run reads: the evidence, and the latest window and the one before it (time split).
HISTORY_DAYS = max(TEST_DAYS, 2 * WINDOW_DAYS)
MIN_IMPRESSIONS = 100
MIN_PAIRS = 30
MAX_BUCKET = 20
STEP_SD = 0.05
BREAK_STEP_SD = 0.15
BREAK_SPAN = 1.5  # steps within this many positions of the break are the looser ones
LEVEL_SD = 1.0
HUBER_C = 0.5
BIWEIGHT_C = 3.0
FIT_ITERATIONS = 30
PAGE_BREAK = 10.5
BREAK_WIDTH = 0.5
NEAR_BREAK = 0.1  # w(p) from which a query-page informs page_break
MIN_ABOVE = 5
# A log-sd floor (no two snippets are alike) and the fallback when too few query-pages lie
# above the centre to measure it (CTRs at one position commonly differ by ±30 %).
MIN_DISPERSION = 0.05**2
DEFAULT_DISPERSION = 0.3**2
QUADRATURE_NODES = 41
FDR = 0.05
MIN_SHORTFALL = 0.3
MAX_UNDERPERFORMER_POSITION = 12.0
NAVIGATIONAL_POSITION = 1.5
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
        [11, 0.0095],
        [15, 0.0065],
        [20, 0.0045],
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
_KNOTS = np.arange(1, MAX_BUCKET + 1, dtype=np.float64)
_KEYS = ["search_query", "page_url"]


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
        return np.exp(np.interp(pos, _KNOTS, np.log(self.ctr)))


def public_prior_curve() -> CtrCurve:
    return CtrCurve(prior_ctr(_KNOTS), np.zeros(MAX_BUCKET), cold_start=True)


@dataclass(frozen=True)
class Dispersion:
    """Variance of an ordinary query-page's log CTR ratio beyond Poisson noise: ``base`` on
    page one, plus ``page_break`` × break_weight(position) towards and on page two."""

    base: float
    page_break: float

    def variance(self, position: np.ndarray | float) -> np.ndarray:
        return self.base + self.page_break * break_weight(position)


@dataclass(frozen=True)
class EmpiricalNull:
    """log θ of an ordinary query-page against the serving curve ~ N(centre, τ²(position))."""

    centre: float
    dispersion: Dispersion

    def variance(self, position: np.ndarray | float) -> np.ndarray:
        return self.dispersion.variance(position)


@dataclass(frozen=True)
class SearchOpportunities:
    opportunities: pd.DataFrame
    curve: pd.DataFrame
    model_runs: pd.DataFrame
    data_through: dt.date | None
    cold_start: bool
    serving: Serving | None = None
    null: EmpiricalNull | None = None
    tested: int = 0  # query-pages tested for under-performance
    brand_pairs: int = 0  # brand / navigational query-pages set aside (latest window)


# --- brand and navigational queries ----------------------------------------------------------


def _letters(text: object) -> str:
    return re.sub(r"[\W_]+", "", str(text).lower())


def page_path(url: object) -> str:
    text = str(url)
    return (urlsplit(text).path or "/") if "://" in text else (text.split("?")[0] or "/")


def _host_labels(urls: Iterable[object]) -> list[str]:
    hosts = pd.Series([urlsplit(str(u)).hostname for u in urls if "://" in str(u)]).dropna()
    if hosts.empty:
        return []
    host = str(hosts.mode().iloc[0]).lower().removeprefix("www.")
    return [label for label in map(_letters, host.split(".")) if label]


def _is_navigational(pages: pd.Series, positions: pd.Series) -> np.ndarray:
    """On the home page at (about) the top: people looking for the site itself."""
    home = pages.map(page_path).eq("/").to_numpy()
    return home & (pd.to_numeric(positions).to_numpy(dtype=np.float64) <= NAVIGATIONAL_POSITION)


def site_names(queries: pd.Series, pages: pd.Series, positions: pd.Series) -> list[str]:
    """The site's name(s), in letters and digits only (see the module docstring)."""
    labels = _host_labels(pages)
    if not labels:
        return []
    names = {"".join(labels)}
    navigational = [_letters(q) for q in queries[_is_navigational(pages, positions)]]
    for end in range(len(labels), 0, -1):
        name = "".join(labels[:end])
        if len(name) >= 3 and any(name in q for q in navigational):
            names.add(name)
            break
    return sorted(names)


def brand_mask(queries: pd.Series, pages: pd.Series, positions: pd.Series) -> np.ndarray:
    """True where a query names the site or navigates to its home page."""
    queries, pages, positions = (s.reset_index(drop=True) for s in (queries, pages, positions))
    if queries.empty:
        return np.zeros(0, dtype=bool)
    names = site_names(queries, pages, positions)
    named = queries.map(lambda q: any(n in _letters(q) for n in names)).to_numpy(dtype=bool)
    return named | _is_navigational(pages, positions)


# --- query-pages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Query-pages of one window (``pairs``) and their daily rows (``daily.pair`` → row of
    ``pairs``), for clicks expected day by day."""

    pairs: pd.DataFrame
    daily: pd.DataFrame

    def expected_clicks(self, curve: Callable) -> np.ndarray:
        day_clicks = self.daily["impressions"].to_numpy() * curve(self.daily["avg_position"])
        return np.bincount(self.daily["pair"], weights=day_clicks, minlength=len(self.pairs))

    def subset(self, keep: np.ndarray) -> Window:
        index = np.flatnonzero(keep)
        renumber = np.full(len(self.pairs), -1)
        renumber[index] = np.arange(len(index))
        daily = self.daily.assign(pair=renumber[self.daily["pair"].to_numpy()])
        return Window(self.pairs.iloc[index].reset_index(drop=True), daily[daily["pair"] >= 0])


def window(rows: pd.DataFrame, first: dt.date, last: dt.date) -> Window:
    days = pd.to_datetime(rows["report_date"]).dt.date
    daily = rows.loc[
        (days >= first) & (days <= last) & (rows["impressions"] > 0),
        [*_KEYS, "impressions", "clicks", "avg_position"],
    ].reset_index(drop=True)
    daily["avg_position"] = daily["avg_position"].fillna(float(MAX_BUCKET)).astype(np.float64)
    weighted = daily.assign(_pos_x_impr=daily["avg_position"] * daily["impressions"])
    pairs = weighted.groupby(_KEYS, as_index=False).agg(
        impressions=("impressions", "sum"),
        clicks=("clicks", "sum"),
        _pos_x_impr=("_pos_x_impr", "sum"),
    )
    pairs["avg_position"] = pairs.pop("_pos_x_impr") / pairs["impressions"]
    pairs["ctr"] = pairs["clicks"] / pairs["impressions"]
    daily["pair"] = daily.groupby(_KEYS).ngroup().to_numpy()
    return Window(pairs, daily)


def query_pages(rows: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Per query × page over `first`..`last`: impressions, clicks, weighted mean position."""
    return window(rows, first, last).pairs


def _brand(win: Window) -> np.ndarray:
    pairs = win.pairs
    return brand_mask(pairs["search_query"], pairs["page_url"], pairs["avg_position"])


def usable(win: Window) -> Window:
    """Non-brand query-pages with ≥ MIN_IMPRESSIONS impressions on the first two pages."""
    pairs = win.pairs
    enough = (pairs["impressions"] >= MIN_IMPRESSIONS) & (pairs["avg_position"] <= MAX_BUCKET + 0.5)
    return win.subset(enough.to_numpy() & ~_brand(win))


# --- the curve -------------------------------------------------------------------------------


def _hat_basis(position: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation weights of each position on the knots 1…MAX_BUCKET."""
    pos = np.clip(position, 1.0, float(MAX_BUCKET))
    return np.maximum(0.0, 1.0 - np.abs(pos[:, None] - _KNOTS[None, :]))


def _penalty() -> np.ndarray:
    """Random walk of g between neighbouring knots (looser across the page break) and a
    weak pull of g towards 0."""
    steps = np.diff(np.eye(MAX_BUCKET), axis=0)
    middle = (_KNOTS[:-1] + _KNOTS[1:]) / 2
    step_sd = np.where(np.abs(middle - PAGE_BREAK) <= BREAK_SPAN, BREAK_STEP_SD, STEP_SD)
    return steps.T @ (steps / step_sd[:, None] ** 2) + np.eye(MAX_BUCKET) / LEVEL_SD**2


def _huber(z: np.ndarray) -> np.ndarray:
    return np.minimum(1.0, HUBER_C / np.maximum(np.abs(z), 1e-12))


def _biweight(z: np.ndarray) -> np.ndarray:
    return np.where(np.abs(z) < BIWEIGHT_C, (1 - (z / BIWEIGHT_C) ** 2) ** 2, 0.0)


def _log_ratio(clicks: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(clicks / expected) with a half-click continuity correction, and its Poisson variance."""
    clicks, expected = np.asarray(clicks, np.float64), np.asarray(expected, np.float64)
    return np.log((clicks + 0.5) / (expected + 0.5)), 1.0 / (expected + 0.5)


@dataclass(frozen=True)
class _Design:
    """What the curve fit needs of a window's usable query-pages."""

    clicks: np.ndarray  # per query-page
    position: np.ndarray  # per query-page (mean)
    pair: np.ndarray  # per day row → query-page
    basis: np.ndarray  # per day row × knot
    prior_clicks: np.ndarray  # per day row: impressions × prior CTR

    @classmethod
    def of(cls, win: Window) -> _Design:
        daily = win.daily
        return cls(
            win.pairs["clicks"].to_numpy(dtype=np.float64),
            win.pairs["avg_position"].to_numpy(dtype=np.float64),
            daily["pair"].to_numpy(),
            _hat_basis(daily["avg_position"].to_numpy()),
            daily["impressions"].to_numpy() * prior_ctr(daily["avg_position"]),
        )

    def linearise(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected clicks per query-page under g = β, and d log(expected) / dβ."""
        n = len(self.clicks)
        day_expected = self.prior_clicks * np.exp(self.basis @ beta)
        expected = np.bincount(self.pair, weights=day_expected, minlength=n)
        sensitivity = np.stack(
            [np.bincount(self.pair, weights=day_expected * b, minlength=n) for b in self.basis.T],
            axis=1,
        )
        return expected, sensitivity / np.maximum(expected, 1e-12)[:, None]


def _fit_g(design: _Design) -> np.ndarray:
    """Penalised IRLS with Huber weights; the dispersion is re-estimated at every step."""
    penalty = _penalty()
    beta = np.zeros(MAX_BUCKET)
    for _ in range(FIT_ITERATIONS):
        expected, jacobian = design.linearise(beta)
        residual, noise = _log_ratio(design.clicks, expected)
        spread = _dispersion_around(residual, noise, design.position).variance(design.position)
        scale = np.sqrt(noise + spread)
        weight = _huber(residual / scale) / scale**2
        lhs = jacobian.T @ (jacobian * weight[:, None]) + penalty
        new_beta = np.linalg.solve(lhs, jacobian.T @ (weight * (residual + jacobian @ beta)))
        converged = np.max(np.abs(new_beta - beta)) < 1e-6
        beta = new_beta
        if converged:
            break
    return beta


def fit_curve(win: Window) -> CtrCurve:
    """The site's curve from a window's usable query-pages (see the module docstring); the
    public prior (cold start) below MIN_PAIRS of them."""
    fit_on = usable(win)
    if len(fit_on.pairs) < MIN_PAIRS:
        return public_prior_curve()
    design = _Design.of(fit_on)
    log_ctr = np.log(prior_ctr(_KNOTS)) + _fit_g(design)
    impressions = fit_on.pairs["impressions"].to_numpy(dtype=np.float64)
    bucket = np.clip(np.rint(design.position), 1, MAX_BUCKET).astype(int)
    per_bucket = np.bincount(bucket - 1, weights=impressions, minlength=MAX_BUCKET)
    monotone = IsotonicRegression(increasing=False).fit(
        _KNOTS, log_ctr, sample_weight=per_bucket + per_bucket.sum() / MAX_BUCKET + 1.0
    )
    return CtrCurve(np.exp(monotone.predict(_KNOTS)), per_bucket, cold_start=False)


# --- the empirical null ----------------------------------------------------------------------


def break_weight(position: np.ndarray | float) -> np.ndarray:
    """How far a mean position lies into page two: ≈ 0 well inside page one, ½ at the break,
    → 1 beyond it (a logistic step BREAK_WIDTH wide)."""
    pos = np.asarray(position, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(pos - PAGE_BREAK) / BREAK_WIDTH))


def _upper_moment_rule(residual: np.ndarray, known: np.ndarray, weight: np.ndarray) -> float:
    """The v ≥ 0 at which residual² / (known + v × weight) averages 1 over the residuals
    above 0 (the half-normal's second moment); NaN with fewer than MIN_ABOVE of them."""
    above = residual > 0
    if above.sum() < MIN_ABOVE:
        return math.nan
    squared, known, weight = residual[above] ** 2, known[above], weight[above]

    def moment(v: float) -> float:
        return float(np.mean(squared / (known + v * weight)))

    if moment(0.0) <= 1.0:
        return 0.0
    low, high = 0.0, 1.0
    while moment(high) > 1.0 and high < 1e3:
        high *= 4
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if moment(mid) > 1.0 else (low, mid)
    return (low + high) / 2


def _dispersion_around(residual: np.ndarray, noise: np.ndarray, position: np.ndarray) -> Dispersion:
    """τ² measured on the log ratios above 0 (see the module docstring): ``base`` from page
    one (every query-page when page one has too few), ``page_break`` from the query-pages
    towards page two given ``base`` (0 when too few of them)."""
    weight = break_weight(position)
    page_one = weight < 0.5
    base = _upper_moment_rule(residual[page_one], noise[page_one], np.ones(page_one.sum()))
    if math.isnan(base):
        base = _upper_moment_rule(residual, noise, np.ones(len(residual)))
    base = DEFAULT_DISPERSION if math.isnan(base) else max(base, MIN_DISPERSION)
    towards = weight >= NEAR_BREAK
    page_break = _upper_moment_rule(residual[towards], noise[towards] + base, weight[towards])
    return Dispersion(base, 0.0 if math.isnan(page_break) else page_break)


def estimate_dispersion(
    clicks: np.ndarray, expected: np.ndarray, position: np.ndarray
) -> Dispersion:
    """τ² of ordinary query-pages around the expected clicks (centre 0)."""
    residual, noise = _log_ratio(clicks, expected)
    return _dispersion_around(residual, noise, np.asarray(position, np.float64))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def empirical_null(clicks: np.ndarray, expected: np.ndarray, position: np.ndarray) -> EmpiricalNull:
    """Where ordinary query-pages sit around a curve and how widely (see the module
    docstring): the precision-weighted median of the log ratios and the dispersion above it,
    then a biweight location at that dispersion, and the dispersion above that location."""
    residual, noise = _log_ratio(clicks, expected)
    position = np.asarray(position, dtype=np.float64)
    if len(residual) == 0:
        return EmpiricalNull(0.0, Dispersion(DEFAULT_DISPERSION, 0.0))
    centre = _weighted_median(residual, 1.0 / (noise + MIN_DISPERSION))
    spread = _dispersion_around(residual - centre, noise, position).variance(position)
    scale = np.sqrt(noise + spread)
    for _ in range(FIT_ITERATIONS):
        weight = _biweight((residual - centre) / scale) / scale**2
        if weight.sum() <= 0:
            break
        new_centre = float(np.sum(weight * residual) / weight.sum())
        converged = abs(new_centre - centre) < 1e-7
        centre = new_centre
        if converged:
            break
    return EmpiricalNull(centre, _dispersion_around(residual - centre, noise, position))


# --- significance ----------------------------------------------------------------------------


def shortfall_p_values(
    clicks: np.ndarray, expected: np.ndarray, dispersion: np.ndarray | float
) -> np.ndarray:
    """One-sided P(X ≤ clicks) for X ~ Poisson(expected × θ), log θ ~ N(0, dispersion):
    the Poisson-lognormal by Gauss–Hermite quadrature (plain Poisson at dispersion 0)."""
    clicks = np.asarray(clicks, dtype=np.float64)
    mean = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    sd = np.sqrt(np.broadcast_to(np.asarray(dispersion, dtype=np.float64), mean.shape))
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    theta = np.exp(sd[:, None] * nodes[None, :])
    return poisson.cdf(clicks[:, None], mean[:, None] * theta) @ (weights / weights.sum())


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Adjusted p-values: flagging where adjusted < q keeps the false discovery rate ≤ q."""
    p = np.asarray(p_values, dtype=np.float64)
    n = len(p)
    if n == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def recovered(clicks: np.ndarray, ordinary: np.ndarray) -> np.ndarray:
    """True where the latest window's clicks are significantly (one-sided Poisson, FDR) above
    a MIN_SHORTFALL shortfall: the snippet no longer under-performs (e.g. its title was
    rewritten), whatever the longer evidence says."""
    clicks = np.asarray(clicks, dtype=np.float64)
    floor = (1 - MIN_SHORTFALL) * np.asarray(ordinary, dtype=np.float64)
    return poisson.sf(clicks - 1, np.maximum(floor, 1e-12)) < FDR


def shortfall_tests(
    candidates: Window, evidence: Window, curve: CtrCurve
) -> tuple[pd.DataFrame, EmpiricalNull]:
    """Per candidate query-page with mean position ≤ MAX_UNDERPERFORMER_POSITION: the
    Benjamini–Hochberg adjusted p-value of its clicks over the `evidence` window under the
    empirical null around `curve`, and its CTR over the ordinary expectation."""
    expected = evidence.expected_clicks(curve)
    position = evidence.pairs["avg_position"].to_numpy()
    null = empirical_null(evidence.pairs["clicks"].to_numpy(), expected, position)
    tested = candidates.pairs.loc[
        candidates.pairs["avg_position"] <= MAX_UNDERPERFORMER_POSITION, _KEYS
    ]
    pairs = evidence.pairs.assign(ordinary=expected * np.exp(null.centre)).merge(tested, on=_KEYS)
    p_raw = shortfall_p_values(
        pairs["clicks"], pairs["ordinary"], null.variance(pairs["avg_position"].to_numpy())
    )
    tests = pairs[_KEYS].assign(
        p_value=benjamini_hochberg(p_raw), ratio_to_ordinary=pairs["clicks"] / pairs["ordinary"]
    )
    return tests, null


# --- the run ---------------------------------------------------------------------------------


def find_search_opportunities(rows: pd.DataFrame) -> SearchOpportunities:
    """`rows`: the last HISTORY_DAYS of Search Console (report_date, search_query, page_url,
    clicks, impressions, avg_position), best per country × device
    (staging.stg_gsc__search_analytics: each row at its own position); rows summed per day
    (intermediate.int_search__query_pages_daily) work too."""
    if rows.empty:
        return SearchOpportunities(
            pd.DataFrame(columns=OPPORTUNITY_COLUMNS),
            pd.DataFrame(columns=CURVE_COLUMNS),
            empty_model_runs(),
            None,
            True,
        )
    day = as_date(pd.to_datetime(rows["report_date"]).max())

    def days_back(n: int) -> dt.date:
        return day - dt.timedelta(days=n)

    latest = window(rows, days_back(WINDOW_DAYS - 1), day)
    earlier = window(rows, days_back(2 * WINDOW_DAYS - 1), days_back(WINDOW_DAYS))
    evidence = window(rows, days_back(TEST_DAYS - 1), day)

    model_runs, serving = _evaluate(earlier, latest, day)
    fitted = fit_curve(latest)
    curve = fitted if serving.served_by == SERVED_BY_MODEL else public_prior_curve()
    candidates = usable(latest)
    tests, null = shortfall_tests(candidates, usable(evidence), curve)
    frame = _opportunities(candidates, tests, curve, null, day)
    curve_frame = pd.DataFrame(
        {
            "position": _KNOTS.astype("int64"),
            "expected_ctr": curve.ctr,
            "prior_ctr": prior_ctr(_KNOTS),
            "impressions": fitted.impressions.astype("int64"),
            "data_through": day,
        }
    )
    return SearchOpportunities(
        frame,
        curve_frame,
        model_runs,
        day,
        fitted.cold_start,
        serving,
        null,
        tested=len(tests),
        brand_pairs=int(_brand(latest).sum()),
    )


def _evaluate(earlier: Window, latest: Window, day: dt.date) -> tuple[pd.DataFrame, Serving]:
    """Champion/challenger on the time split: the site curve fitted on the earlier window
    against the public prior, both predicting the latest window's usable query-pages."""
    trained = fit_curve(earlier)
    holdout = usable(latest)
    train_rows = len(usable(earlier).pairs)
    if holdout.pairs.empty:
        serving = Serving(
            SERVED_BY_BASELINE, "no query-page to test a curve on: the public prior serves"
        )
        runs = model_run_rows(
            MODEL_NAME, day, train_rows, 0, [("cold_start", 1.0, None)], serving, METRIC_KINDS
        )
        return runs, serving
    impressions = holdout.pairs["impressions"].to_numpy(dtype=np.float64)
    observed = holdout.pairs["ctr"].to_numpy()

    def weighted_mae(curve: Callable) -> float:
        predicted = holdout.expected_clicks(curve) / impressions
        return float(np.average(np.abs(observed - predicted), weights=impressions))

    model_mae, prior_mae = weighted_mae(trained), weighted_mae(prior_ctr)
    if trained.cold_start:
        serving = Serving(
            SERVED_BY_BASELINE,
            f"cold start: {train_rows} non-brand query-pages with ≥ {MIN_IMPRESSIONS} "
            f"impressions in the training window (< {MIN_PAIRS}): the public prior serves",
        )
    else:
        serving = champion(PRIMARY_METRIC, model_mae, prior_mae, higher_is_better=False)
    metrics = [
        (PRIMARY_METRIC, model_mae, prior_mae),
        ("cold_start", float(trained.cold_start), None),
    ]
    runs = model_run_rows(
        MODEL_NAME, day, train_rows, len(holdout.pairs), metrics, serving, METRIC_KINDS
    )
    return runs, serving


def _opportunities(
    candidates: Window,
    tests: pd.DataFrame,
    curve: CtrCurve,
    null: EmpiricalNull,
    day: dt.date,
) -> pd.DataFrame:
    """`candidates`: the latest window's usable query-pages; `tests`: their shortfall tests
    over the evidence window, flagged only where the latest window is still short."""
    expected_clicks = candidates.expected_clicks(curve)
    pairs = candidates.pairs.assign(
        expected_ctr=expected_clicks / candidates.pairs["impressions"],
        expected_clicks=expected_clicks,
    ).merge(tests, on=_KEYS, how="left")
    position = pairs["avg_position"].to_numpy()
    flagged = (
        (pairs["p_value"] < FDR)
        & (pairs["ratio_to_ordinary"] <= 1 - MIN_SHORTFALL)
        & ~recovered(pairs["clicks"], pairs["expected_clicks"] * math.exp(null.centre))
    )
    under = pairs[flagged.to_numpy()].assign(
        opportunity_type="ctr_underperformer", target_position=pd.NA
    )
    under["estimated_click_gain_28d"] = under["expected_clicks"] - under["clicks"]
    striking = pairs[(position > STRIKING_FROM) & (position <= MAX_BUCKET)].assign(
        opportunity_type="striking_distance", target_position=TARGET_POSITION, p_value=np.nan
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
