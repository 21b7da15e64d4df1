"""Shared helpers: deterministic ids, the output columns, and ranking by impact."""

from __future__ import annotations

import pandas as pd

from flywheel_pipeline.insights._common import as_date, stable_hash

IMPACT_UNIT = "expected additional revenue over the next 90 days (shop currency)"

CANDIDATE_COLUMNS = [
    "recommendation_id",
    "created_at",
    "cycle",
    "type",
    "target_type",
    "target_id",
    "action",
    "rationale",
    "expected_impact",
    "impact_unit",
    "priority",
    "confidence",
]


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
) -> dict:
    """One candidate row (``created_at``, ``cycle`` and ``priority`` are set by
    :func:`rank`)."""
    return {
        "recommendation_id": recommendation_id(rec_type, target_type, target_id, data_through),
        "type": rec_type,
        "target_type": target_type,
        "target_id": str(target_id),
        "action": action,
        "rationale": rationale,
        "expected_impact": round(max(0.0, float(expected_impact)), 2),
        "impact_unit": IMPACT_UNIT,
        "confidence": round(min(1.0, max(0.0, float(confidence))), 3),
    }


def rank(rows: list[dict], *, data_through: object, cycle: int) -> pd.DataFrame:
    """Candidates as the contract frame, priority 1 = highest expected impact (ties: higher
    confidence, then id, so the order is deterministic)."""
    frame = pd.DataFrame(rows, columns=[c for c in CANDIDATE_COLUMNS if c not in
                                        ("created_at", "cycle", "priority")])  # fmt: skip
    frame = frame.sort_values(
        ["expected_impact", "confidence", "recommendation_id"], ascending=[False, False, True]
    ).reset_index(drop=True)
    frame["created_at"] = pd.Timestamp(as_date(data_through))
    frame["cycle"] = int(cycle)
    frame["priority"] = range(1, len(frame) + 1)
    frame = frame.astype(
        {"expected_impact": "float64", "confidence": "float64", "priority": "int64",
         "cycle": "int64"}
    )  # fmt: skip
    return frame[CANDIDATE_COLUMNS]


def money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
