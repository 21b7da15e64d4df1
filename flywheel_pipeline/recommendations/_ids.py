"""Shared helpers: deterministic ids, the output columns, ranking by impact, and confidence
from a model's holdout evaluation."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from flywheel_pipeline.insights._common import SERVED_BY_BASELINE, as_date, stable_hash
from flywheel_pipeline.tables import RECOMMENDATION_CANDIDATES

IMPACT_UNIT = "expected additional revenue over the next 90 days (shop currency)"

CANDIDATE_COLUMNS = RECOMMENDATION_CANDIDATES.column_names


def recommendation_id(
    rec_type: str, target_type: str, target_id: object, data_through: object
) -> str:
    """Deterministic id: a hash of type, target and data_through (reruns propose the same ids,
    so decisions keep pointing at them)."""
    return "rec_" + stable_hash(rec_type, target_type, target_id, as_date(data_through).isoformat())


def candidate(
    *,
    rec_type: str,
    target_type: str,
    target_id: object,
    data_through: object,
    action: str,
    rationale: str,
    expected_impact: float,
    confidence: float,
    score: float | None = None,
    brief: str | None = None,
) -> dict:
    """One candidate row (``created_at``, ``cycle`` and ``priority`` are set by
    :func:`rank`). ``score``: the model's probability or value behind a list member's impact
    (kept in ``ml.recommendation_targets``, see :mod:`.lists`). ``brief``: what a person
    needs to do the work, as plain-text lines (content and title actions; else null)."""
    row = {
        "recommendation_id": recommendation_id(rec_type, target_type, target_id, data_through),
        "type": rec_type,
        "target_type": target_type,
        "target_id": str(target_id),
        "action": action,
        "rationale": rationale,
        "brief": brief,
        "expected_impact": round(max(0.0, float(expected_impact)), 2),
        "impact_unit": IMPACT_UNIT,
        "confidence": round(min(1.0, max(0.0, float(confidence))), 3),
    }
    if score is not None:
        row["score"] = float(score)
    return row


def rank(rows: list[dict], *, data_through: object | None, cycle: int) -> pd.DataFrame:
    """Candidates as the contract frame, priority 1 = highest expected impact (ties: higher
    confidence, then id, so the order is deterministic). ``data_through`` may be ``None``
    only without rows (nothing in the warehouse to date them by)."""
    if data_through is None and rows:
        raise ValueError("candidates need a data_through")
    frame = pd.DataFrame(
        rows, columns=[c for c in CANDIDATE_COLUMNS if c not in ("created_at", "cycle", "priority")]
    )
    frame = frame.sort_values(
        ["expected_impact", "confidence", "recommendation_id"], ascending=[False, False, True]
    ).reset_index(drop=True)
    frame["created_at"] = pd.Timestamp(as_date(data_through)) if rows else pd.NaT
    frame["cycle"] = int(cycle)
    frame["priority"] = range(1, len(frame) + 1)
    # Explicit string types too: an empty frame (a cold start) must still write VARCHAR
    # columns, not DuckDB's NULL type.
    text = (
        "recommendation_id",
        "type",
        "target_type",
        "target_id",
        "action",
        "rationale",
        "brief",
        "impact_unit",
    )
    frame = frame.astype(
        {
            "created_at": "datetime64[us]",
            "expected_impact": "float64",
            "confidence": "float64",
            "priority": "int64",
            "cycle": "int64",
            **dict.fromkeys(text, "string"),
        }
    )
    return frame[CANDIDATE_COLUMNS]


def money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def model_confidence(
    model_runs: pd.DataFrame | None, model: str, *, baseline: str
) -> tuple[float, str]:
    """Confidence in the published scores from the latest run of ``model`` in ``model_runs``
    (rows of any ``*_runs`` tables): ``2·(AUC − 0.5)`` clipped to 0.1–0.9, with the AUC of
    whichever scorer serves (the baseline's when the model did not beat it); 0.3 for the
    cold-start fallback or when no evaluation is available. ``baseline`` names the naive
    baseline / fallback in the text."""
    if model_runs is None or model_runs.empty or "model" not in model_runs:
        return 0.3, "no model evaluation available"
    runs = model_runs[model_runs["model"] == model]
    if runs.empty:
        return 0.3, f"no {model.replace('_', ' ')} evaluation available"
    latest = runs[runs["data_through"] == runs["data_through"].max()].set_index("metric")
    cold = "cold_start" in latest.index and latest.loc["cold_start", "value"] == 1
    if cold:
        return 0.3, f"scores from the cold-start fallback ({baseline})"
    if "auc" not in latest.index or pd.isna(latest.loc["auc", "value"]):
        return 0.3, "model without a holdout AUC"
    auc = float(latest.loc["auc", "value"])
    base = latest.loc["auc", "baseline_value"]
    if latest.get("served_by", pd.Series(dtype=object)).get("auc") == SERVED_BY_BASELINE:
        # the model lost on its holdout: the baseline's scores are the published ones
        return _from_auc(float(base)), (
            f"{baseline} serve (holdout AUC {float(base):.2f}; the model, {auc:.2f}, did not "
            "beat it on holdout)"
        )
    text = f"model holdout AUC {auc:.2f}" + (
        f" vs {float(base):.2f} for {baseline}" if pd.notna(base) else ""
    )
    return _from_auc(auc), text


def _from_auc(auc: float) -> float:
    return min(0.9, max(0.1, 2 * (auc - 0.5)))


def keep_decided(
    fresh: pd.DataFrame, previous: pd.DataFrame | None, decided_ids: Iterable[str]
) -> pd.DataFrame:
    """``fresh`` rows plus the ``previous`` rows of every recommendation someone decided on,
    as they were decided (a fresh proposal of the same id, a rerun on the same data, gives
    way); columns ``previous`` lacks (added since it was written) read as null."""
    if previous is None or previous.empty:
        return fresh
    decided = set(decided_ids)
    kept = previous[previous["recommendation_id"].isin(decided)]
    if kept.empty:
        return fresh
    fresh = fresh[~fresh["recommendation_id"].isin(set(kept["recommendation_id"]))]
    return pd.concat([fresh, kept.reindex(columns=fresh.columns)], ignore_index=True)
