"""The champion/challenger helpers every scorer shares: who serves, why, on every row."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from flywheel_pipeline.insights._common import (
    MODEL_RUNS_COLUMNS,
    SERVED_BY_BASELINE,
    SERVED_BY_MODEL,
    SERVED_BY_RULES,
    champion,
    cold_start_serving,
    model_run_rows,
    outcome_month_sample,
    stratified_sample,
)

DAY = dt.date(2026, 6, 30)


def test_the_model_serves_only_when_it_beats_the_baseline():
    assert champion("auc", 0.71, 0.65).served_by == SERVED_BY_MODEL
    assert champion("auc", 0.65, 0.65).served_by == SERVED_BY_BASELINE  # a tie is no win
    assert champion("auc", 0.60, 0.65).served_by == SERVED_BY_BASELINE
    # lower is better for errors
    assert champion("mae", 0.01, 0.02, higher_is_better=False).served_by == SERVED_BY_MODEL
    assert champion("mae", 0.03, 0.02, higher_is_better=False).served_by == SERVED_BY_BASELINE


def test_the_reason_says_what_was_compared_and_who_serves():
    won = champion("auc", 0.71, 0.65).reason
    assert won == (
        "holdout auc: model 0.7100 beats baseline 0.6500 (higher is better): the model serves"
    )
    lost = champion("mae", 0.03, 0.02, higher_is_better=False).reason
    assert "does not beat baseline 0.0200 (lower is better): the baseline serves" in lost


@pytest.mark.parametrize("model, baseline", [(math.nan, 0.6), (0.7, math.nan), (None, 0.6)])
def test_a_metric_that_cannot_be_computed_lets_the_baseline_serve(model, baseline):
    serving = champion("auc", model, baseline)
    assert serving.served_by == SERVED_BY_BASELINE
    assert "could not be computed" in serving.reason


def test_further_criteria_must_all_be_won():
    """AUC and Brier both: a better ranking with a worse calibration does not serve."""
    both = champion("auc", 0.72, 0.69, also=[("brier", 0.20, 0.21, False)])
    assert both.served_by == SERVED_BY_MODEL
    assert "holdout auc: model 0.7200 beats" in both.reason
    assert "holdout brier: model 0.2000 beats baseline 0.2100 (lower is better)" in both.reason
    ranking_only = champion("auc", 0.72, 0.69, also=[("brier", 0.22, 0.21, False)])
    assert ranking_only.served_by == SERVED_BY_BASELINE
    assert ranking_only.reason.endswith(
        "holdout brier: model 0.2200 does not beat baseline 0.2100 (lower is better): "
        "the baseline serves"
    )
    missing = champion("auc", 0.72, 0.69, also=[("brier", math.nan, 0.21, False)])
    assert missing.served_by == SERVED_BY_BASELINE and "brier could not" in missing.reason


def test_every_model_runs_row_carries_the_serving():
    serving = cold_start_serving("12 converted leads (a model needs 120)")
    assert serving.served_by == SERVED_BY_RULES
    assert serving.reason.startswith("cold start: 12 converted leads")
    rows = model_run_rows(
        "lead_scoring", DAY, 10, 5, [("cold_start", 1.0, None), ("auc", 0.6, 0.5)], serving
    )
    assert list(rows.columns) == MODEL_RUNS_COLUMNS
    assert (rows["served_by"] == SERVED_BY_RULES).all()
    assert (rows["serving_reason"] == serving.reason).all()
    assert rows["run_id"].nunique() == 1
    # a model without a naive challenger (topics) leaves the columns empty, typed as text
    plain = model_run_rows("conversation_topics", DAY, 10, 5, [("topics", 8, None)])
    assert plain["served_by"].isna().all() and str(plain["served_by"].dtype) == "string"


def test_a_training_sample_is_bounded_and_keeps_every_strata_share():
    rng = np.random.default_rng(3)
    strata = rng.choice(["a", "b", "c"], 20_000, p=[0.7, 0.25, 0.05])
    rows = stratified_sample(strata, 1_000, seed=1)
    assert len(rows) == 1_000 and len(set(rows)) == 1_000
    assert (np.diff(rows) > 0).all()  # sorted positions: the rows keep their order
    full = pd.Series(strata).value_counts(normalize=True)
    kept = pd.Series(strata[rows]).value_counts(normalize=True)
    assert (kept - full).abs().max() < 1 / 1_000 + 1e-12  # shares kept to a row
    np.testing.assert_array_equal(rows, stratified_sample(strata, 1_000, seed=1))  # seeded
    assert not np.array_equal(rows, stratified_sample(strata, 1_000, seed=2))


def test_below_the_cap_every_row_trains():
    strata = np.array(["x", "y", "x"])
    np.testing.assert_array_equal(stratified_sample(strata, 3), [0, 1, 2])
    np.testing.assert_array_equal(stratified_sample(strata, 10**9), [0, 1, 2])
    assert len(stratified_sample(np.array([]), 5)) == 0


def test_an_outcome_month_sample_keeps_the_base_rate_of_every_month():
    rng = np.random.default_rng(0)
    created = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.uniform(0, 180, 30_000), "D")
    month = created.month.to_numpy()
    y = (rng.random(30_000) < np.where(month > 3, 0.4, 0.1)).astype(int)  # the rate drifts
    rows = outcome_month_sample(created, y, 3_000, seed=0)
    assert len(rows) == 3_000
    full = pd.Series(y).groupby(month).mean()
    kept = pd.Series(y[rows]).groupby(month[rows]).mean()
    assert (kept - full).abs().max() < 0.01
    share = pd.Series(month[rows]).value_counts(normalize=True).sort_index()
    assert (share - pd.Series(month).value_counts(normalize=True).sort_index()).abs().max() < 1e-3
