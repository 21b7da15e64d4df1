"""Helpers shared by the scoring models' tests (leads, deals, customer value)."""

from __future__ import annotations

import numpy as np


def planted_logit(intercept: float, channel, email: float, social: float, *effects) -> np.ndarray:
    """A planted log-odds: ``intercept``, the Email and Paid Social channels' effects, then
    ``effect`` wherever ``mask`` for each ``(mask, effect)``."""
    logit = intercept + np.select(
        [channel == "Email", channel == "Paid Social"], [email, social], 0
    )
    for mask, effect in effects:
        logit = logit + np.where(mask, effect, 0)
    return logit


def assert_the_baseline_serves(result, metric: str, method: str) -> None:
    """A model was trained (no cold start), lost to its baseline on the holdout ``metric``,
    and the baseline (``method``) publishes, every ``model_runs`` row saying why."""
    m = result.model_runs.set_index("metric")
    assert m.loc["cold_start", "value"] == 0
    assert m.loc[metric, "value"] < m.loc[metric, "baseline_value"]
    assert result.method == method and result.serving.served_by == "baseline"
    assert (result.model_runs["served_by"] == "baseline").all()
    assert result.model_runs["serving_reason"].str.contains("does not beat").all()


def holdout_metrics(result, baseline: str, rows: str = "rows"):
    """The run's metrics by name, and its holdout AUC, Brier score and top-decile lift rows,
    printed beside the ``baseline``'s (``pytest -s`` shows them)."""
    m = result.model_runs.set_index("metric")
    auc, brier, lift = m.loc["auc"], m.loc["brier"], m.loc["lift_top_decile"]
    print(
        f"holdout AUC {auc.value:.3f} ({baseline} {auc.baseline_value:.3f}), Brier "
        f"{brier.value:.4f} ({brier.baseline_value:.4f}), lift@10% {lift.value:.2f} "
        f"({lift.baseline_value:.2f}); train {int(auc.train_rows)}, "
        f"holdout {int(auc.holdout_rows)} {rows}"
    )
    return m, auc, brier, lift
