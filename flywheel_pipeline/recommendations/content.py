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

Every candidate carries a ``brief`` (plain-text lines a writer reads, :func:`content_brief`):
the topic's most frequent customer questions — the customer's first message of each of the
topic's conversations, normalised (lower case, whitespace, trailing punctuation; order
numbers, codes and amounts masked as ``…``, as in the representative question) so repeats
count together, top :data:`QUESTIONS_SHOWN` with counts (:func:`topic_questions`;
the texts are redacted in staging); the Search Console queries around the topic (sharing
two of the words of its key terms and representative question, or the one word of a one-word
query; for a fix, also every query landing on the page that answers it), top
:data:`QUERIES_SHOWN` by impressions over the last 28 days
(intermediate.int_search__query_pages_recent); and the closest existing page with its
similarity. A part whose input is missing is left out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from flywheel_pipeline.insights.content_gaps import page_path, words
from flywheel_pipeline.recommendations._ids import candidate, money
from flywheel_pipeline.recommendations.economics import (
    ImpactAssumptions,
    ShopEconomics,
    latest_assignments,
)

MIN_RECENT_CONVERSATIONS = 10
QUESTIONS_SHOWN = 5
QUERIES_SHOWN = 5
RECENT_SEARCH_DAYS = 28  # the window intermediate.int_search__query_pages_recent sums
QUESTION_MAX_CHARS = 140  # a longer question is cut in the brief (counted whole)

# Masked before counting, as in the representative question: e-mails, then any token with a
# digit (order numbers, codes, amounts); then whitespace and trailing punctuation.
_MASKS = ((r"\S+@\S+", "…"), (r"[#(]?\S*\d\S*", "…"), (r"\s+", " "), (r"[\s.!?,;:]+$", ""))


def normalise_question(texts: pd.Series) -> pd.Series:
    """Customers' messages as a brief counts them: lower case, e-mails and tokens with a digit
    masked as ``…``, whitespace folded, trailing punctuation dropped."""
    out = texts.astype(str).str.lower()
    for pattern, replacement in _MASKS:
        out = out.str.replace(pattern, replacement, regex=True)
    return out.str.strip()


def topic_questions(first_messages: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """The :data:`QUESTIONS_SHOWN` most frequent first customer messages per topic, normalised
    (:func:`normalise_question`): topic_id, question, asked, and conversations (the topic's
    conversations with a first message). ``first_messages``: conversation_id,
    first_user_text (intermediate.int_conversations__texts); ``assignments``: the topic
    model's (its latest run where several are kept). ``first_messages`` may instead come
    counted already: topic_id, first_user_text, asked (conversations of the topic that opened
    with that text; see recommendations/inputs.py), and ``assignments`` is then unused."""
    if {"topic_id", "asked"} <= set(first_messages.columns):
        asked = first_messages.dropna(subset=["first_user_text", "topic_id"])
    else:
        assignments = latest_assignments(assignments)
        assigned = assignments.loc[assignments["topic_id"].notna(), ["conversation_id", "topic_id"]]
        asked = first_messages.dropna(subset=["first_user_text"]).merge(
            assigned, on="conversation_id"
        )
        asked = asked.assign(asked=1)
    asked = asked.assign(question=normalise_question(asked["first_user_text"]))
    asked = asked[asked["question"] != ""]
    counts = asked.groupby(["topic_id", "question"])["asked"].sum().reset_index()
    counts["conversations"] = counts.groupby("topic_id")["asked"].transform("sum")
    counts = counts.sort_values(["topic_id", "asked", "question"], ascending=[True, False, True])
    return counts.groupby("topic_id").head(QUESTIONS_SHOWN).reset_index(drop=True)


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
        f"{int(stat['conversations_recent']):,} conversations in the last {window} days "
        f"(≈{projected:,.0f} over the next {horizon_days}), {resolution:.0%} resolved; "
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


def _topic_words(topic: pd.Series) -> set[str]:
    """The stemmed words of the topic's key terms and representative question (its label
    without one)."""
    texts = [topic.get("top_terms"), topic_question(topic)]
    return {w for text in texts if isinstance(text, str) for w in words(text.replace(",", " "))}


class _Searches:
    """Search Console query × page rows (int_search__query_pages_recent), their words and paths
    computed once for every topic."""

    def __init__(self, searches: pd.DataFrame):
        frame = searches.rename(columns={"search_query": "query", "page_url": "page"})
        frame = frame[frame["impressions"] > 0].reset_index(drop=True)
        self.frame = frame
        self.words = [set(words(q)) for q in frame["query"].astype(str)]
        self.paths = frame["page"].map(page_path).to_numpy()

    def around(self, topic: pd.Series, page: str | None) -> pd.DataFrame:
        """Queries sharing two of the topic's words (the word of a one-word query), or
        landing on ``page`` (the page that answers it); per query the page with most
        impressions, largest first."""
        terms = _topic_words(topic)
        close = [
            (page is not None and path == page)
            or (len(shared := q & terms) >= min(2, len(q)) and len(shared) > 0)
            for q, path in zip(self.words, self.paths, strict=True)
        ]
        near = self.frame.loc[np.asarray(close, dtype=bool)].sort_values(
            ["impressions", "query"], ascending=[False, True]
        )
        return near.drop_duplicates("query").head(QUERIES_SHOWN)


def _clicks(n: int) -> str:
    return f"{n:,} click" + ("" if n == 1 else "s")


def _cut(text: str, limit: int = QUESTION_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def content_brief(
    topic: pd.Series,
    questions: pd.DataFrame | None,
    searches: _Searches | None,
    *,
    fix: bool,
) -> str:
    """The brief of a content action (see the module docstring): plain-text lines, a part
    whose input is missing left out. ``questions``: rows of :func:`topic_questions` for this
    topic."""
    lines = [f"Topic: {topic_question(topic)}"]
    terms = topic.get("top_terms")
    if isinstance(terms, str) and terms.strip():
        lines.append(f"Key terms: {terms.strip()}")
    if questions is not None and not questions.empty:
        total = int(questions["conversations"].max())
        lines += [
            "",
            f"Customers ask (their first message, redacted; most frequent of "
            f"{total:,} conversations):",
        ]
        lines += [f"- {int(q.asked)}× {_cut(str(q.question))}" for q in questions.itertuples()]
    page, similarity = _page(topic)
    if searches is not None:
        near = searches.around(topic, page if fix else None)  # a gap's page does not answer
        lines += ["", f"Searches around it (Search Console, last {RECENT_SEARCH_DAYS} days):"]
        lines += [
            f'- "{q.query}" → {page_path(q.page)}: {int(q.impressions):,} impressions, '
            f"{_clicks(int(q.clicks))}, position {q.avg_position:.1f}"
            for q in near.itertuples()
        ] or ["- none share its key terms or land on its closest page"]
    lines.append("")
    if page is None:
        lines.append("Closest existing page: none comes close")
    else:
        role = "the page to improve" if fix else "does not answer it"
        lines.append(f"Closest existing page: {_with_similarity(page, similarity)} — {role}")
    return "\n".join(lines)


def content_candidates(
    topics: pd.DataFrame,
    stats: pd.DataFrame,
    overall: dict,
    econ: ShopEconomics,
    *,
    data_through: object,
    assumptions: ImpactAssumptions,
    min_recent_conversations: int = MIN_RECENT_CONVERSATIONS,
    questions: pd.DataFrame | None = None,
    searches: pd.DataFrame | None = None,
) -> list[dict]:
    """``create_content`` and ``fix_content`` candidates.

    ``topics``: topic_id, label, is_content_gap, gap_evidence (optional:
    representative_question, top_terms, is_answered, best_page, best_page_similarity).
    ``stats``/``overall``: from :func:`..economics.topic_stats`. For the brief (optional):
    ``questions`` (:func:`topic_questions`: topic_id, question, asked, conversations) and
    ``searches`` (intermediate.int_search__query_pages_recent: search_query, page_url,
    impressions, clicks, avg_position).
    """
    if topics is None or topics.empty or stats is None or stats.empty:
        return []
    by_topic = (
        {}
        if questions is None or questions.empty
        else {str(k): g for k, g in questions.groupby(questions["topic_id"].astype(str))}
    )
    near = None if searches is None else _Searches(searches)
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
                brief=content_brief(t, by_topic.get(str(t["topic_id"])), near, fix=not is_gap),
            )
        )
    return rows
