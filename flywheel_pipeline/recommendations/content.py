"""Content actions for conversation topics.

- ``create_content``: a content-gap topic (high volume, no page or query answers it).
- ``fix_content``: a high-volume topic with a page, whose resolution rate is below the
  all-topic rate.

Expected impact (revenue over the next 90 days) =
``recent volume × 90/window`` (projected conversations) × ``(1 − resolution rate)``
× ``reach`` (assumed share of unresolved askers the content resolves)
× ``(order rate after a resolved conversation − after an unresolved one)`` (from the data)
× average order value (from the data).
"""

from __future__ import annotations

import math

import pandas as pd

from flywheel_pipeline.recommendations._ids import candidate, money
from flywheel_pipeline.recommendations.economics import ImpactAssumptions, ShopEconomics

MIN_RECENT_CONVERSATIONS = 10


def _impact(stat: pd.Series, overall: dict, reach: float, econ: ShopEconomics,
            horizon_days: int) -> tuple[float, float, float, str]:  # fmt: skip
    window = overall["window_days"]
    projected = stat["conversations_recent"] * horizon_days / window
    resolution = stat["resolution_rate"]
    resolution = overall.get("resolution_rate", 0.0) if pd.isna(resolution) else resolution
    resolution = 0.0 if pd.isna(resolution) else float(resolution)
    uplift = stat["order_rate_resolved"] - stat["order_rate_unresolved"]
    uplift = 0.0 if pd.isna(uplift) else max(0.0, float(uplift))
    extra_orders = projected * (1 - resolution) * reach * uplift
    impact = extra_orders * econ.average_order_value
    text = (
        f"{int(stat['conversations_recent'])} conversations in the last {window} days "
        f"(≈{projected:.0f} over the next {horizon_days}), {resolution:.0%} resolved; "
        f"askers ordered within {overall['order_window_days']} days at "
        f"{stat['order_rate_resolved']:.1%} after a resolved conversation vs "
        f"{stat['order_rate_unresolved']:.1%} after an unresolved one; assuming the content "
        f"resolves {reach:.0%} of the unresolved askers: ≈{extra_orders:.1f} extra orders × "
        f"average order value {money(econ.average_order_value)} = {money(impact)}"
    )
    return impact, extra_orders, uplift, text


def _confidence(stat: pd.Series) -> float:
    n = float(stat["conversations_total"])
    known = float(stat["n_resolved_known"] + stat["n_unresolved_known"])
    return min(0.9, n / (n + 100)) * (0.5 + 0.5 * known / (known + 100))


def content_candidates(
    topics: pd.DataFrame,
    stats: pd.DataFrame,
    overall: dict,
    econ: ShopEconomics,
    *,
    data_through: object,
    assumptions: ImpactAssumptions,
    min_recent_conversations: int = MIN_RECENT_CONVERSATIONS,
) -> list[dict]:
    """``create_content`` and ``fix_content`` candidates.

    ``topics``: topic_id, label, top_terms, is_content_gap, gap_evidence (optional: best_page).
    ``stats``/``overall``: from :func:`..economics.topic_stats`.
    """
    if topics is None or topics.empty or stats is None or stats.empty:
        return []
    merged = topics.merge(stats, on="topic_id", how="inner")
    overall_resolution = overall.get("resolution_rate", math.nan)
    rows = []
    for _, t in merged.iterrows():
        if t["conversations_recent"] < min_recent_conversations:
            continue
        is_gap = (
            bool(t.get("is_content_gap", False)) if pd.notna(t.get("is_content_gap")) else False
        )
        terms = ", ".join(str(t.get("top_terms") or "").split(", ")[:5])
        if is_gap:
            impact, _, _, text = _impact(t, overall, assumptions.create_content_reach, econ,
                                         assumptions.horizon_days)  # fmt: skip
            rows.append(candidate(
                rec_type="create_content", target_type="topic", target_id=t["topic_id"],
                data_through=data_through,
                action=(f"Create a help page or FAQ entry answering '{t['label']}' "
                        f"(cover: {terms})."),
                rationale=f"{t.get('gap_evidence') or 'No page answers this topic.'} {text}.",
                expected_impact=impact, confidence=_confidence(t),
            ))  # fmt: skip
            continue
        resolution = t["resolution_rate"]
        if pd.isna(resolution) or pd.isna(overall_resolution) or resolution >= overall_resolution:
            continue
        impact, _, _, text = _impact(t, overall, assumptions.fix_content_reach, econ,
                                     assumptions.horizon_days)  # fmt: skip
        page = t.get("best_page")
        where = f"the page {page}" if isinstance(page, str) and page else "the existing content"
        rows.append(candidate(
            rec_type="fix_content", target_type="topic", target_id=t["topic_id"],
            data_through=data_through,
            action=(f"Improve {where} for '{t['label']}' so the assistant and customers can "
                    f"resolve it (cover: {terms})."),
            rationale=(f"Resolution rate {resolution:.0%} vs {overall_resolution:.0%} across all "
                       f"topics. {text}."),
            expected_impact=impact, confidence=_confidence(t),
        ))  # fmt: skip
    return rows
