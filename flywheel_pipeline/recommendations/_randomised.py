"""The lift of a list's treated members over its random holdout, with a bootstrap interval.

:func:`randomised_lift`: members were assigned to the holdout at random, so the holdout's
outcomes are the treated members' counterfactual. Each member carries the model's score
(the expectation its recommendation rested on); when every member has one, the comparison is
of observed ÷ expected outcomes, which removes the part of the difference that comes from
who happened to be drawn into the holdout (randomisation keeps it unbiased either way):

    lift = (Σ y_treated / Σ e_treated) / (Σ y_holdout / Σ e_holdout) − 1

Without scores ``e = 1`` and it is the ratio of the two means. A holdout without any event
counts half an event (Haldane), so the ratio stays finite.

Interval: a bootstrap over members (treated and holdout resampled separately), percentiles
of the log lift *expanded* for small samples (Hesterberg's expanded percentile: the tail
probability whose normal quantile is ``sqrt(n/(n−1)) · t_{n−1}`` with ``n`` the holdout's
size). A holdout is small (12 of 60 leads, 4 of 20 deals): on simulated lists of those
sizes plain percentiles covered the true lift 87–92 % of the time and flagged a zero effect
9–11 %; the expanded ones cover it 92–98 % and flag a zero effect 2–8 % (1 000 lists per case;
tests/test_recommendation_lists.py runs 400). Seeded by the caller, so reruns reproduce it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from flywheel_pipeline.recommendations._lift import CONFIDENCE, HALF_EVENT, N_RESAMPLES, Estimate


def _log_lift(y_t, e_t, y_h, e_h) -> np.ndarray:
    return np.log(np.maximum(y_t, HALF_EVENT) / e_t) - np.log(np.maximum(y_h, HALF_EVENT) / e_h)


def expanded_tail(n: int, confidence: float = CONFIDENCE) -> float:
    """Two-sided tail probability of the expanded percentile interval for a sample of ``n``."""
    if n < 2:
        return 1 - confidence
    t = stats.t.ppf(0.5 + confidence / 2, n - 1)
    return float(2 * stats.norm.cdf(-np.sqrt(n / (n - 1)) * t))


def randomised_lift(
    treated: tuple[np.ndarray, np.ndarray | None],
    holdout: tuple[np.ndarray, np.ndarray | None],
    *,
    seed: int,
    n_resamples: int = N_RESAMPLES,
) -> Estimate:
    """``treated`` and ``holdout``: ``(outcome per member, expected per member or None)``.

    ``baseline``: the treated members' mean outcome without the action (their expectations
    rescaled by the holdout's observed ÷ expected; the holdout's mean without scores);
    ``observed``: the treated members' mean outcome; ``control_change``: the holdout's
    observed ÷ expected − 1 (0 without scores); ``lift = observed / baseline − 1``.
    """
    y_t, y_h = np.asarray(treated[0], dtype=float), np.asarray(holdout[0], dtype=float)
    if len(y_t) == 0 or len(y_h) == 0:
        raise ValueError("a randomised lift needs treated and holdout members")
    scored = treated[1] is not None and holdout[1] is not None
    e_t = np.asarray(treated[1], dtype=float) if scored else np.ones_like(y_t)
    e_h = np.asarray(holdout[1], dtype=float) if scored else np.ones_like(y_h)
    rng = np.random.default_rng(seed)
    it = rng.integers(0, len(y_t), size=(n_resamples, len(y_t)))
    ih = rng.integers(0, len(y_h), size=(n_resamples, len(y_h)))
    samples = _log_lift(y_t[it].sum(1), e_t[it].sum(1), y_h[ih].sum(1), e_h[ih].sum(1))
    tail = expanded_tail(len(y_h))
    low, high = np.quantile(samples, [tail / 2, 1 - tail / 2])
    centre = float(_log_lift(y_t.sum(), e_t.sum(), y_h.sum(), e_h.sum()))
    holdout_ratio = max(y_h.sum(), HALF_EVENT) / e_h.sum()
    observed = y_t.mean()
    return Estimate(
        baseline=float(e_t.mean() * holdout_ratio),
        observed=float(observed),
        control_change=float(y_h.sum() / e_h.sum() - 1) if scored else 0.0,
        lift=float(np.expm1(centre)),
        ci_low=float(np.expm1(low)),
        ci_high=float(np.expm1(high)),
    )
