"""Content actions for conversation topics.

- ``create_content``: a content-gap topic (high volume, no page of the site answers it).
- ``fix_content``: a topic a page answers, whose resolution rate is below the all-topic rate.

The action names the topic by its representative customer question (``label`` when the topic
has no ``representative_question``) and the page: the closest one today for a gap, the
answering one for a fix, with its similarity (from :mod:`..insights.content_gaps`).

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


def _impact(
    stat: pd.Series, overall: dict, reach: float, econ: ShopEconomics, horizon_days: int
) -> tuple[float, float, float, str]:
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


def topic_question(topic: pd.Series) -> str:
    """How an action names a topic: its representative customer question, else its label."""
    for column in ("representative_question", "label"):
        value = topic.get(column)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return f"topic {topic.get('topic_id')}"


def _page(topic: pd.Series) -> tuple[str | None, float]:
    page = topic.get("best_page")
    similarity = topic.get("best_page_similarity")
    page = page if isinstance(page, str) and page else None
    return page, float(similarity) if page and pd.notna(similarity) else math.nan


def _with_similarity(page: str, similarity: float) -> str:
    return page if math.isnan(similarity) else f"{page} (similarity {similarity:.2f})"


def create_action(topic: pd.Series) -> str:
    """``Create a help page for '<question>' — closest page today: <page> (similarity s).``"""
    page, similarity = _page(topic)
    where = (
        f"closest page today: {_with_similarity(page, similarity)}"
        if page
        else "no page of the site comes close today"
    )
    return f"Create a help page for '{topic_question(topic)}' — {where}."


def fix_action(topic: pd.Series) -> str:
    """``Improve <page> for '<question>' …`` (the page that answers the topic)."""
    page, similarity = _page(topic)
    target = f"the page {_with_similarity(page, similarity)}" if page else "the existing content"
    return (
        f"Improve {target} for '{topic_question(topic)}' so customers and the assistant "
        f"can resolve it."
    )


def _answered(topic: pd.Series) -> bool:
    """A page answers the topic (``is_answered``; frames without it: a best page is named)."""
    answered = topic.get("is_answered")
    if answered is not None and pd.notna(answered):
        return bool(answered)
    return _page(topic)[0] is not None


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

    ``topics``: topic_id, label, is_content_gap, gap_evidence (optional:
    representative_question, is_answered, best_page, best_page_similarity).
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
        if is_gap:
            action, reach = create_action(t), assumptions.create_content_reach
            why = t.get("gap_evidence") or "No page answers this topic."
        else:
            resolution = t["resolution_rate"]
            if pd.isna(resolution) or pd.isna(overall_resolution):
                continue
            if resolution >= overall_resolution or not _answered(t):
                continue  # resolved well enough, or no page to fix
            action, reach = fix_action(t), assumptions.fix_content_reach
            why = f"Resolution rate {resolution:.0%} vs {overall_resolution:.0%} across all topics."
        impact, _, _, text = _impact(t, overall, reach, econ, assumptions.horizon_days)
        rows.append(
            candidate(
                rec_type="create_content" if is_gap else "fix_content",
                target_type="topic",
                target_id=t["topic_id"],
                data_through=data_through,
                action=action,
                rationale=f"{why} {text}.",
                expected_impact=impact,
                confidence=_confidence(t),
            )
        )
    return rows
