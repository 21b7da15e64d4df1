"""The two lift estimators behind the recommendation outcomes, with bootstrap intervals.

- :func:`did_lift`: a target with a history of its own (a query's CTR, a topic's volume),
  its change across two equal windows against the pooled change of untouched targets —
  difference in differences on the log scale (a ratio of ratios).
- :func:`cohort_lift`: a one-off outcome (a lead converts, a deal is won), observed against
  what a model expected, recalibrated on untouched targets of the same window.
- :func:`pre_trends_diverge` (:func:`pre_trend_placebo`): whether a DiD's target and controls
  already moved apart inside the window before — a placebo DiD of its later half against its
  earlier half; a DiD is not reported when they did.

The two estimators return an :class:`Estimate` with a 95 % interval from
``scipy.stats.bootstrap``, seeded by the caller so that reruns reproduce it: percentile for a
cohort; for a DiD the bootstrap's standard error on the log scale, widened by
:func:`between_target_variance`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from flywheel_pipeline.tables import RECOMMENDATION_OUTCOMES

CONFIDENCE = 0.95
N_RESAMPLES = 2_000
# A zero count makes a ratio 0 or infinite; half an event (Haldane's correction) keeps the
# resamples finite without moving estimates that rest on more than a handful of events.
HALF_EVENT = 0.5


@dataclass(frozen=True)
class Estimate:
    baseline: float  # the target's metric before (DiD) / expected without the action (cohort)
    observed: float  # the target's metric after the action
    control_change: float  # relative change of the untouched targets over the same time
    lift: float  # relative lift attributed to the action: 0.1 = +10 %
    ci_low: float
    ci_high: float

    def outcome_row(
        self,
        recommendation_id: str,
        *,
        metric: str,
        higher_is_better: bool,
        method: str,
        n: int,
        measured_at: object,
    ) -> dict:
        """The estimate as a row of ``ml.recommendation_outcomes`` (:data:`OUTCOME_COLUMNS`)."""
        return {
            "recommendation_id": recommendation_id,
            "metric": metric,
            "baseline_value": self.baseline,
            "observed_value": self.observed,
            "control_change": self.control_change,
            "estimated_lift": self.lift,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": int(n),
            "method": method,
            "measured_at": pd.Timestamp(measured_at),
            "higher_is_better": higher_is_better,
        }


# The columns of ml.recommendation_outcomes, one row per estimate.
OUTCOME_COLUMNS = RECOMMENDATION_OUTCOMES.column_names


def _bootstrap(samples: tuple[np.ndarray, ...], statistic, seed: int, n_resamples: int):
    """Percentile bootstrap of ``statistic`` over independent ``samples`` (seeded)."""
    return stats.bootstrap(
        samples,
        statistic,
        n_resamples=n_resamples,
        vectorized=True,
        paired=False,
        confidence_level=CONFIDENCE,
        method="percentile",
        batch=200,
        rng=np.random.default_rng(seed),
    )


def _interval(samples: tuple[np.ndarray, ...], statistic, seed: int, n_resamples: int):
    result = _bootstrap(samples, statistic, seed, n_resamples)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.maximum(num, HALF_EVENT) / np.maximum(den, 1.0)


def _log_did(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """log((target after / before) / (control after / before)) of summed ``[target num,
    den, control num, den]`` (any leading batch axes)."""
    target = _rate(after[..., 0], after[..., 1]) / _rate(before[..., 0], before[..., 1])
    control = _rate(after[..., 2], after[..., 3]) / _rate(before[..., 2], before[..., 3])
    return np.log(target) - np.log(control)


def between_target_variance(
    before: np.ndarray, after: np.ndarray, *, seed: int, n_resamples: int = N_RESAMPLES // 4
) -> float:
    """How much untouched targets drift apart on their own: the DerSimonian–Laird
    between-target variance of placebo DiDs, each control against the pooled others.

    ``before`` and ``after``: days × controls × ``[numerator, denominator]``. Each placebo's
    sampling variance comes from the same day bootstrap as the treated estimate; whatever
    spread the placebos show beyond it is drift a difference in differences does not
    remove, and it widens the treated's interval.
    """
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    b, a = before.sum(axis=0), after.sum(axis=0)
    usable = (b[:, 0] > 0) & (b[:, 0] < b[:, 0].sum()) & (a[:, 1] > 0) & (a[:, 1] < a[:, 1].sum())
    if usable.sum() < 3:
        return 0.0
    before, after = before[:, usable], after[:, usable]

    def placebos(ib: np.ndarray, ia: np.ndarray, axis: int = -1) -> np.ndarray:
        own_b, own_a = before[ib].sum(axis=-3), after[ia].sum(axis=-3)  # (..., k, 2)
        rest_b = own_b.sum(axis=-2, keepdims=True) - own_b
        rest_a = own_a.sum(axis=-2, keepdims=True) - own_a
        did = _log_did(np.concatenate([own_b, rest_b], -1), np.concatenate([own_a, rest_a], -1))
        return np.moveaxis(did, -1, 0)  # scipy wants the statistic's own axis first

    result = stats.bootstrap(
        (np.arange(len(before)), np.arange(len(after))),
        placebos,
        n_resamples=n_resamples,
        vectorized=True,
        method="percentile",
        batch=100,
        rng=np.random.default_rng(seed),
    )
    estimate = placebos(np.arange(len(before)), np.arange(len(after)))
    weights = 1 / np.maximum(result.standard_error, 1e-6) ** 2
    mean = (weights * estimate).sum() / weights.sum()
    q = (weights * (estimate - mean) ** 2).sum()
    scale = weights.sum() - (weights**2).sum() / weights.sum()
    return max(0.0, float((q - (len(estimate) - 1)) / scale))


def did_lift(
    before: np.ndarray,
    after: np.ndarray,
    *,
    seed: int,
    between_var: float = 0.0,
    n_resamples: int = N_RESAMPLES,
) -> Estimate:
    """Difference in differences of a ratio metric over two windows of days.

    ``before`` and ``after``: one row per day, columns ``[target numerator, target
    denominator, control numerator, control denominator]`` (a count has denominator 1 a
    day). Lift = (target after / before) / (controls after / before) − 1.

    Interval, on the log scale: the standard error of a bootstrap that resamples the days of
    each window (target and controls of a day together, so that shocks common to a day
    cancel as they do in the estimate), widened by ``between_var``
    (:func:`between_target_variance`).
    """
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)

    def log_lift(ib: np.ndarray, ia: np.ndarray, axis: int = -1) -> np.ndarray:
        return _log_did(before[ib].sum(axis=-2), after[ia].sum(axis=-2))

    rows = (np.arange(len(before)), np.arange(len(after)))
    result = _bootstrap(rows, log_lift, seed, n_resamples)
    b, a = before.sum(axis=0), after.sum(axis=0)
    centre = float(_log_did(b, a))
    half = stats.norm.ppf(0.5 + CONFIDENCE / 2) * np.sqrt(result.standard_error**2 + between_var)
    control_change = (a[2] / a[3]) / (b[2] / b[3]) - 1
    baseline, observed = b[0] / b[1], a[0] / a[1]
    return Estimate(
        baseline=baseline,
        observed=observed,
        control_change=control_change,
        lift=observed / (baseline * (1 + control_change)) - 1,
        ci_low=float(np.expm1(centre - half)),
        ci_high=float(np.expm1(centre + half)),
    )


def cohort_lift(
    treated: tuple[np.ndarray, np.ndarray, np.ndarray],
    controls: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    seed: int,
    n_resamples: int = N_RESAMPLES,
) -> Estimate:
    """Observed over expected events of treated targets, expectations recalibrated on the
    untouched ones.

    ``treated`` and ``controls``: ``(outcome 0/1, expected probability, cell code)`` per
    target. Within a cell (e.g. a lead-age band) the controls' observed ÷ expected events
    rescale the treated's expectations into the counterfactual; lift = treated events ÷
    counterfactual − 1. A cell without controls borrows the pooled ratio. The interval
    resamples treated and controls separately (targets are the units).
    """
    y_t, e_t, c_t = (np.asarray(v) for v in treated)
    y_c, e_c, c_c = (np.asarray(v) for v in controls)
    cells = np.union1d(c_t, c_c)
    onehot_t = (c_t[:, None] == cells[None, :]).astype(float)
    onehot_c = (c_c[:, None] == cells[None, :]).astype(float)
    y_t, e_t = y_t.astype(float), e_t.astype(float)
    y_c, e_c = y_c.astype(float), e_c.astype(float)

    def counterfactual(it: np.ndarray, ic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen_c = (y_c[ic][..., None] * onehot_c[ic]).sum(axis=-2)
        mass_c = (e_c[ic][..., None] * onehot_c[ic]).sum(axis=-2)
        pooled = np.maximum(seen_c.sum(-1), HALF_EVENT) / np.maximum(mass_c.sum(-1), 1e-12)
        ratio = np.where(
            mass_c > 0,
            np.maximum(seen_c, HALF_EVENT) / np.where(mass_c > 0, mass_c, 1.0),
            pooled[..., None],
        )
        expected = ((e_t[it][..., None] * onehot_t[it]).sum(axis=-2) * ratio).sum(-1)
        return expected, y_t[it].sum(axis=-1)

    def lift(it: np.ndarray, ic: np.ndarray, axis: int = -1) -> np.ndarray:
        expected, seen = counterfactual(it, ic)
        return seen / expected - 1

    it, ic = np.arange(len(y_t)), np.arange(len(y_c))
    expected, seen = counterfactual(it, ic)
    low, high = _interval((it, ic), lift, seed, n_resamples)
    return Estimate(
        baseline=float(expected) / len(y_t),
        observed=float(seen) / len(y_t),
        control_change=float(y_c.sum() / e_c.sum() - 1) if e_c.sum() > 0 else float("nan"),
        lift=float(seen / expected - 1),
        ci_low=low,
        ci_high=high,
    )


# Pre-trends: the later half of the window before against its earlier half. A 95 % interval
# that lies wholly beyond ±PRE_TREND_MARGIN (on the log scale: excludes the band
# ±log(1 + PRE_TREND_MARGIN)) says target and controls were already moving apart before the
# action.
PRE_TREND_MARGIN = 0.10


def pre_trend_placebo(
    before: np.ndarray,
    control_before: np.ndarray | None = None,
    *,
    seed: int,
    n_resamples: int = N_RESAMPLES // 4,
) -> Estimate | None:
    """A placebo difference in differences inside the window before the action: its later
    half against its earlier half (an odd oldest day is dropped), with :func:`did_lift`'s
    interval widened by :func:`between_target_variance` of the controls over the same halves.

    ``before``: days × ``[target num, den, control num, den]`` as for :func:`did_lift`;
    ``control_before``: days × controls × ``[num, den]`` (None: no widening). Only days
    before the action are read. None when the earlier half has no event, or either half no
    denominator, for the target or the controls (nothing to compare).
    """
    before = np.asarray(before, dtype=float)
    half = len(before) // 2
    if half < 2:
        return None
    early, late = before[-2 * half : -half], before[-half:]
    e, lt = early.sum(axis=0), late.sum(axis=0)
    if min(e[1], e[3], lt[1], lt[3], e[0], e[2]) <= 0:
        return None
    between_var = 0.0
    if control_before is not None:
        cube = np.asarray(control_before, dtype=float)
        between_var = between_target_variance(
            cube[-2 * half : -half], cube[-half:], seed=seed + 1, n_resamples=n_resamples
        )
    return did_lift(early, late, seed=seed, between_var=between_var, n_resamples=n_resamples)


def pre_trends_diverge(
    before: np.ndarray,
    control_before: np.ndarray | None = None,
    *,
    seed: int,
    n_resamples: int = N_RESAMPLES // 4,
    margin: float = PRE_TREND_MARGIN,
) -> bool:
    """Whether target and controls already moved apart before the action, so that a
    difference in differences across the action would be biased.

    Rule: the :func:`pre_trend_placebo` 95 % interval lies wholly above ``+margin`` or wholly
    below ``1 / (1 + margin) − 1`` (±10 %, symmetric on the log scale). Measured on
    synthetic 28-day windows before (tests/test_lift_estimators.py: a target and 10 controls,
    common day shocks, a random walk of every target's level; 1,000 seeds): a target that
    drifts like its controls is refused in 0.4 % of topic-volume panels (20 conversations a
    day) and 0.1 % of query-CTR panels (1,000 impressions a day) — 2.5 % and 1 % with 5–7×
    less data; a target whose volume / CTR doubles from 10–18 days before the action on is refused
    in 96 % / 99.7 % of panels (from 6 or 20 days before: about half; from the last few days
    or the window's first days: rarely — the former cannot be told from an effect, the latter
    shifts both windows alike and does not bias the DiD).
    """
    est = pre_trend_placebo(before, control_before, seed=seed, n_resamples=n_resamples)
    if est is None:
        return False
    return est.ci_low > margin or est.ci_high < 1 / (1 + margin) - 1
