"""Content recommendations name the topic by its customer question and the page, with the
impact from the topic's own volume, resolution and order rates."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from flywheel_pipeline.recommendations.content import content_candidates, topic_questions
from flywheel_pipeline.recommendations.economics import ImpactAssumptions, ShopEconomics
from flywheel_pipeline.recommendations.inputs import read_inputs

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


# --- the brief (issue #10) -------------------------------------------------------------------


# the customers' first messages (intermediate.int_conversations__texts.first_user_text: the
# first *user* message, a dbt unit test shows it) with repeats spelled differently
FIRST = {
    "c1": "How should I wash the merino sweater?",
    "c2": "how should i  wash the MERINO sweater",
    "c3": "How should I wash the merino sweater?!",
    "c4": "Can the wool beanie go in the dryer",
    "c5": "can the wool beanie go in the dryer.",
    "c6": "Does it shrink? Order #SE-123456",
    "c7": "does it shrink? order 998877",
    "c8": "My sweater has a hole",
    "r1": "How should I wash the merino sweater?",  # a returns conversation: not topic 1's
    "r2": "I want to return order 123",
}


def _first_messages() -> pd.DataFrame:
    return pd.DataFrame({"conversation_id": list(FIRST), "first_user_text": list(FIRST.values())})


def _assignments() -> pd.DataFrame:
    rows = [(c, 2 if c.startswith("r") else 1, DAY) for c in FIRST]
    rows.append(("r1", 1, DAY - pd.Timedelta(days=7)))  # an older assignment: ignored
    return pd.DataFrame(rows, columns=["conversation_id", "topic_id", "data_through"])


def _questions() -> pd.DataFrame:
    return topic_questions(_first_messages(), _assignments())


def _searches() -> pd.DataFrame:
    site = "https://shop.example"
    return pd.DataFrame(
        [
            ("how to wash merino wool", f"{site}/blog/care", 900, 30, 6.2),
            ("merino sweater shrink", f"{site}/products/merino-sweater", 400, 4, 11.0),
            ("wash", f"{site}/blog/care", 50, 1, 14.0),
            ("merino sweater", f"{site}/products/merino-sweater", 5_000, 300, 3.1),
            ("returns policy", f"{site}/help/returns", 2_000, 150, 2.0),
            ("free shipping", f"{site}/help/returns", 100, 2, 9.0),  # lands on the fix's page
            ("warranty claim", f"{site}/help/warranty", 80, 3, 7.5),
        ],
        columns=["search_query", "page_url", "impressions", "clicks", "avg_position"],
    )


def _briefs(questions=None, searches=None, topics=None) -> dict[str, dict]:
    rows = content_candidates(
        _topics() if topics is None else topics,
        _stats(),
        OVERALL,
        ECON,
        data_through=DAY,
        assumptions=ImpactAssumptions(),
        questions=questions,
        searches=searches,
    )
    return {r["type"]: r for r in rows}


def test_topic_questions_count_normalised_repeats_of_the_topics_own_first_messages():
    questions = _questions()
    topic1 = questions[questions["topic_id"] == 1]
    assert list(zip(topic1["question"], topic1["asked"], strict=True)) == [
        ("how should i wash the merino sweater", 3),  # case, spaces, "?!" fold together
        ("can the wool beanie go in the dryer", 2),
        ("does it shrink? order …", 2),  # order numbers masked
        ("my sweater has a hole", 1),
    ]
    assert set(topic1["conversations"]) == {8}  # r1 is topic 2's now, never counted twice
    topic2 = questions[questions["topic_id"] == 2]
    assert list(topic2["asked"]) == [1, 1]


def test_read_inputs_reads_the_brief_inputs_where_the_warehouse_has_them():
    """The first messages arrive counted per topic and text (one row per distinct question,
    not per conversation), and count as topic_questions counts the raw rows."""
    with duckdb.connect() as conn:
        conn.execute("create schema intermediate")
        conn.execute("create schema ml")
        texts = _first_messages()
        texts.loc[len(texts)] = ["c9", None]  # no first message: not asked
        conn.register("texts", texts)
        conn.register("assignments", _assignments())
        conn.execute("create table intermediate.int_conversations__texts as from texts")
        conn.execute("create table ml.conversation_topic_assignments as from assignments")
        inputs = read_inputs(conn, None)
    counted = inputs["first_messages"]
    assert list(counted.columns) == ["topic_id", "first_user_text", "asked"]
    pd.testing.assert_frame_equal(topic_questions(counted, None), _questions(), check_dtype=False)
    assert inputs["search_queries"] is None  # no Search Console model in this warehouse


def test_read_inputs_leaves_the_contacts_in_the_warehouse():
    with duckdb.connect() as conn:
        conn.execute("create schema staging")
        conn.execute(
            "create table staging.stg_crm__contacts as select 'k1' as contact_id, "
            "'a@b.c' as email, timestamp '2026-01-01' as created_at, 'spring' as campaign"
        )
        inputs = read_inputs(conn, None)
        touch = inputs["first_touch"]  # their first touch is summed where they are
        assert touch.knows("campaign") and not touch.knows("first_landing_page")
    assert "contacts" not in inputs
    assert "orders" not in inputs and inputs["first_messages"] is None


def test_content_brief_lists_questions_with_counts_searches_and_the_closest_page():
    questions = _questions()
    create = _briefs(questions, _searches())["create_content"]
    brief = create["brief"]
    assert brief.splitlines()[:2] == [
        "Topic: How should I wash the merino sweater?",
        "Key terms: wash, shrink, dryer, machine washable, wool",
    ]
    assert (
        "Customers ask (their first message, redacted; most frequent of 8 conversations):\n"
        "- 3× how should i wash the merino sweater\n"
        "- 2× can the wool beanie go in the dryer\n"
        "- 2× does it shrink? order …\n"
        "- 1× my sweater has a hole\n"
    ) in brief
    assert "return order" not in brief  # topic 2's conversations stay out
    searches = brief.split("Searches around it (Search Console, last 28 days):\n")[1]
    lines = searches.split("\n\n")[0].splitlines()
    # largest first; a query shares two words of the topic's terms and question (or is one of
    # them); a gap's closest page does not answer it, so landing there is no reason to list one
    assert [line.split('"')[1] for line in lines] == [
        "merino sweater",
        "how to wash merino wool",
        "merino sweater shrink",
        "wash",
    ]
    assert lines[1] == (
        '- "how to wash merino wool" → /blog/care: 900 impressions, 30 clicks, position 6.2'
    )
    assert lines[3] == '- "wash" → /blog/care: 50 impressions, 1 click, position 14.0'
    assert brief.endswith(
        "Closest existing page: /products/merino-sweater (similarity 0.21) — does not answer it"
    )


def test_fix_content_brief_lists_the_searches_landing_on_the_page_to_improve():
    fix = _briefs(None, _searches())["fix_content"]
    assert [line for line in fix["brief"].splitlines() if line.startswith("- ")] == [
        '- "returns policy" → /help/returns: 2,000 impressions, 150 clicks, position 2.0',
        '- "free shipping" → /help/returns: 100 impressions, 2 clicks, position 9.0',
    ]
    assert fix["brief"].endswith(
        "Closest existing page: /help/returns (similarity 0.51) — the page to improve"
    )


def test_a_topic_without_texts_or_searches_still_gets_its_candidate_and_a_shorter_brief():
    questions = _questions()
    only_topic_2 = questions[questions["topic_id"] == 2]
    briefs = _briefs(only_topic_2, _searches().iloc[0:0])
    assert set(briefs) == {"create_content", "fix_content"}
    create = briefs["create_content"]["brief"]
    assert "Customers ask" not in create
    assert "- none share its key terms or land on its closest page" in create
    assert "Customers ask" in briefs["fix_content"]["brief"]
    bare = _briefs()["create_content"]["brief"]  # no brief inputs at all
    assert "Customers ask" not in bare and "Searches around it" not in bare
    assert "Closest existing page: /products/merino-sweater" in bare
