"""Content recommendations name the topic by its customer question and the page, with the
impact from the topic's own volume, resolution and order rates."""

from __future__ import annotations

import pandas as pd
import pytest

from flywheel_pipeline.recommendations.content import content_candidates
from flywheel_pipeline.recommendations.economics import ImpactAssumptions, ShopEconomics

DAY = pd.Timestamp("2026-06-30").date()
ECON = ShopEconomics(
    average_order_value=80.0,
    revenue_per_new_customer_90d=120.0,
    orders=500,
    customers_with_90d_history=200,
)
OVERALL = {"window_days": 28, "order_window_days": 30, "resolution_rate": 0.7}


def _topics(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "topic_id": [1, 2, 3],
            "label": [
                "How should I wash the merino sweater? (wash, shrink, dryer)",
                "How do I return an item? (return, refund)",
                "Is there a warranty? (warranty)",
            ],
            "representative_question": [
                "How should I wash the merino sweater?",
                "How do I return an item?",
                "Is there a warranty?",
            ],
            "top_terms": [
                "wash, shrink, dryer, machine washable, wool",
                "return, refund, label",
                "warranty, claim",
            ],
            "is_content_gap": [True, False, False],
            "is_answered": [False, True, False],
            "gap_evidence": [
                "Content gap: 120 conversations (9% of all) and no page answers them.",
                "Answered by /help/returns.",
                "Unanswered but low volume.",
            ],
            "best_page": ["/products/merino-sweater", "/help/returns", "/help/shipping"],
            "best_page_similarity": [0.2149, 0.5123, 0.04],
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def _stats() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "topic_id": [1, 2, 3],
            "conversations_recent": [56, 112, 28],
            "conversations_total": [240, 480, 40],
            "resolution_rate": [0.25, 0.5, 0.1],
            "order_rate_resolved": [0.20, 0.20, 0.2],
            "order_rate_unresolved": [0.05, 0.10, 0.1],
            "n_resolved_known": [60, 240, 4],
            "n_unresolved_known": [180, 240, 36],
        }
    )


def _rows(topics=None, stats=None) -> list[dict]:
    return content_candidates(
        _topics() if topics is None else topics,
        _stats() if stats is None else stats,
        OVERALL,
        ECON,
        data_through=DAY,
        assumptions=ImpactAssumptions(),
    )


def _candidates(topics=None) -> dict[str, dict]:
    return {r["type"]: r for r in _rows(topics)}


def test_create_content_names_the_question_and_the_closest_page():
    create = _candidates()["create_content"]
    assert create["target_id"] == "1"
    assert create["action"] == (
        "Create a help page for 'How should I wash the merino sweater?' — closest page today: "
        "/products/merino-sweater (similarity 0.21)."
    )
    assert "shrink" not in create["action"]  # no term soup
    assert create["rationale"].startswith("Content gap: 120 conversations")


def test_fix_content_names_the_answering_page():
    fix = _candidates()["fix_content"]
    assert fix["target_id"] == "2"
    assert fix["action"] == (
        "Improve the page /help/returns (similarity 0.51) for 'How do I return an item?' so "
        "customers and the assistant can resolve it."
    )
    assert fix["rationale"].startswith("Resolution rate 50% vs 70% across all topics.")


def test_an_unanswered_topic_that_is_not_a_gap_gets_no_fix():
    # topic 3 resolves badly but no page answers it (low volume): nothing to fix
    assert {r["target_id"] for r in _rows()} == {"1", "2"}
    answered = _rows(_topics(is_answered=[False, True, True]))
    assert {(r["type"], r["target_id"]) for r in answered} == {
        ("create_content", "1"),
        ("fix_content", "2"),
        ("fix_content", "3"),
    }


def test_label_and_missing_page_fallbacks():
    topics = _topics(best_page=[None, "/help/returns", None]).drop(
        columns=["representative_question", "best_page_similarity"]
    )
    create = _candidates(topics)["create_content"]
    assert create["action"] == (
        "Create a help page for 'How should I wash the merino sweater? (wash, shrink, dryer)' — "
        "no page of the site comes close today."
    )
    assert _candidates(topics)["fix_content"]["action"].startswith(
        "Improve the page /help/returns for 'How do I return an item? (return, refund)'"
    )


def test_impact_comes_from_volume_resolution_and_order_rates():
    create = _candidates()["create_content"]
    # 56 recent conversations × 90/28, 75 % unresolved, 30 % reach, +15 points order rate, AOV 80
    expected = 56 * 90 / 28 * 0.75 * 0.30 * 0.15 * 80.0
    assert create["expected_impact"] == pytest.approx(expected, abs=0.01)
    fix = _candidates()["fix_content"]
    assert fix["expected_impact"] == pytest.approx(
        112 * 90 / 28 * 0.5 * 0.20 * 0.10 * 80.0, abs=0.01
    )
    assert _rows(stats=_stats().assign(conversations_recent=[5, 5, 5])) == []
