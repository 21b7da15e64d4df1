"""Content gaps: a topic is a gap when no content page of the site answers its conversations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel_pipeline.insights.content_gaps import (
    OUTPUT_COLUMNS,
    find_content_gaps,
    page_kind,
    page_path,
    stem,
    with_content_gaps,
)

# What customers write, per topic (a product name is slotted into some phrasings).
PHRASES = {
    1: [
        "I want to return the {p} and get a refund",
        "how do I print a return label for my order",
        "can I exchange the {p} for another size, refund or exchange?",
        "where do I send my return, is the refund quick",
    ],
    2: [
        "my parcel is late, the delivery date has passed",
        "order still not delivered, parcel late",
        "delivery is taking ages, where is my parcel",
        "is there a delivery delay on my order",
    ],
    3: [
        "do I pay customs fees on an order to Canada",
        "import duty on my parcel, is that right?",
        "the courier wants customs charges before delivery",
        "are duties and customs included",
    ],
    4: [
        "how should I wash the {p}",
        "can the {p} go in the dryer or will it shrink",
        "is the {p} machine washable",
        "how do I wash the {p} without it shrinking",
    ],
    5: ["warranty claim for my {p}", "is there a warranty on the {p}"],
}
PRODUCTS = ["merino sweater", "rain jacket", "linen shirt"]
SIZES = {1: 300, 2: 250, 3: 120, 4: 150, 5: 3}
DATA_THROUGH = pd.Timestamp("2026-06-30").date()


def _texts(sizes: dict[int, int] = SIZES, unassigned: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for topic, n in sizes.items():
        for i in range(n):
            phrase = PHRASES[topic][i % len(PHRASES[topic])]
            rows.append((topic, phrase.format(p=PRODUCTS[rng.integers(len(PRODUCTS))])))
    rows += [(None, "hello, can you help me with something") for _ in range(unassigned)]
    return pd.DataFrame(rows, columns=["topic_id", "text"])


def _topics(texts: pd.DataFrame) -> pd.DataFrame:
    counts = texts.dropna(subset=["topic_id"]).groupby("topic_id").size()
    labels = {
        1: "How do I return an item?",
        2: "Where is my late parcel?",
        3: "Do I pay customs fees?",
        4: "How should I wash the merino sweater?",
        5: "Is there a warranty?",
    }
    terms = {
        1: "return, refund, return label, exchange",
        2: "parcel, late, delivery, delay",
        3: "customs, duty, fees, import",
        4: "wash, shrink, dryer, washable",
        5: "warranty, claim",
    }
    ids = sorted(int(t) for t in counts.index)
    return pd.DataFrame(
        {
            "topic_id": ids,
            "label": [labels[t] for t in ids],
            "top_terms": [terms[t] for t in ids],
            "conversations": [int(counts[t]) for t in ids],
            "data_through": DATA_THROUGH,
        }
    )


PAGES = pd.DataFrame(
    {
        "page_path": [
            "/",
            "/help/returns",
            "/help/shipping",
            "/help/order-status",
            "/products/merino-sweater",
            "/products/rain-jacket",
            "/products/linen-shirt",
            "/checkout",
            "/blog/autumn-layers",
        ],
        "page_title": [
            "Shop Example | Clothing",
            "Returns & refunds | Shop Example",
            "Shipping & delivery times | Shop Example",
            "Your order | Shop Example",
            "Merino Sweater | Shop Example",
            "Rain Jacket | Shop Example",
            "Linen Shirt | Shop Example",
            "Checkout | Shop Example",
            "How to layer for autumn | Shop Example",
        ],
    }
)


def _queries(*extra: tuple[str, str, int, int]) -> pd.DataFrame:
    rows = [
        ("return label refund", "https://shop.example/help/returns", 900, 120),
        ("why is my parcel late", "https://shop.example/help/shipping", 700, 60),
        # planted trap: a customs search shown for the shipping page, never clicked
        ("import duty customs fees", "https://shop.example/help/shipping", 3000, 0),
        ("merino sweater", "https://shop.example/products/merino-sweater", 5000, 300),
        ("how to wash merino sweater", "https://shop.example/products/merino-sweater", 400, 20),
        *extra,
    ]
    return pd.DataFrame(rows, columns=["query", "page", "impressions", "clicks"])


def _gaps(texts=None, queries=None, pages=PAGES, **kwargs) -> pd.DataFrame:
    texts = _texts() if texts is None else texts
    queries = _queries() if queries is None else queries
    return find_content_gaps(_topics(texts), pages, queries, topic_texts=texts, **kwargs).set_index(
        "topic_id"
    )


def test_answered_topics_name_their_page():
    gaps = _gaps()
    assert list(gaps.reset_index().columns) == OUTPUT_COLUMNS
    assert not gaps.loc[1, "is_content_gap"] and gaps.loc[1, "best_page"] == "/help/returns"
    assert not gaps.loc[2, "is_content_gap"] and gaps.loc[2, "best_page"] == "/help/shipping"
    assert gaps.loc[1, "best_page_kind"] == "content" and gaps.loc[1, "is_answered"]
    assert 0.2 < gaps.loc[1, "best_page_similarity"] <= 1.0
    assert gaps.loc[1, "gap_evidence"].startswith("Answered by /help/returns: similarity")


def test_topics_no_page_answers_are_gaps_with_the_closest_page():
    gaps = _gaps()
    # customs questions share "order" with the order page, which is closer to other questions
    assert gaps.loc[3, "is_content_gap"] and not gaps.loc[3, "is_answered"]
    evidence = gaps.loc[3, "gap_evidence"]
    assert evidence.startswith("Content gap: 120 conversations (15% of all)")
    assert "Closest content page: /help/order-status (similarity 0.09)" in evidence
    assert "closer to the other conversations" in evidence
    assert 0 <= gaps.loc[3, "best_page_similarity"] < 0.5
    assert "customs" in gaps.loc[3, "missing_terms"]


def test_catalogue_pages_come_closest_but_never_answer():
    gaps = _gaps()
    # "how to wash merino sweater" lands on the product page: closest, yet not an answer
    assert gaps.loc[4, "is_content_gap"]
    assert gaps.loc[4, "best_page"] == "/products/merino-sweater"
    assert gaps.loc[4, "best_page_kind"] == "catalogue"
    assert "a catalogue page, which does not answer questions" in gaps.loc[4, "gap_evidence"]
    # the same searches clicked through to a care guide: answered there
    care = ("how to wash merino sweater", "https://shop.example/help/care", 400, 90)
    dryer = ("can wool go in the dryer shrink", "https://shop.example/help/care", 100, 30)
    answered = _gaps(queries=_queries(care, dryer))
    assert not answered.loc[4, "is_content_gap"]
    assert answered.loc[4, "best_page"] == "/help/care"


def test_clicked_searches_answer_but_unclicked_impressions_do_not():
    clicked = ("customs fees import duty canada", "https://shop.example/help/customs", 800, 90)
    gaps = _gaps(queries=_queries(clicked))
    assert not gaps.loc[3, "is_content_gap"]
    assert gaps.loc[3, "best_page"] == "/help/customs"
    unclicked = ("customs fees import duty canada", "https://shop.example/help/customs", 800, 0)
    assert _gaps(queries=_queries(unclicked)).loc[3, "is_content_gap"]


def test_a_page_sharing_everyday_words_is_not_an_answer():
    # "Your order" shares "order" with returns, delays and customs questions alike
    gaps = _gaps()
    assert gaps.loc[3, "is_content_gap"] and gaps.loc[3, "best_page"] == "/help/order-status"
    assert gaps.loc[3, "best_page_similarity"] >= 0.05
    lenient = _gaps(min_lift=0.0)  # without the lift rule the order page would "answer" customs
    assert not lenient.loc[3, "is_content_gap"]
    assert lenient.loc[3, "best_page"] == "/help/order-status"


def test_a_minority_of_other_questions_does_not_make_a_topic_answered():
    texts = _texts()
    # an imperfect topic model folds returns questions into the washing topic (36 % of it)
    moved = texts.index[texts["topic_id"] == 1][:85]
    texts.loc[moved, "topic_id"] = 4
    assert _gaps(texts=texts).loc[4, "is_content_gap"]
    assert not _gaps(texts=texts, core_share=1.0).loc[4, "is_content_gap"]


def test_low_volume_topics_are_not_gaps():
    gaps = _gaps()
    assert not gaps.loc[5, "high_volume"] and not gaps.loc[5, "is_content_gap"]
    assert gaps.loc[5, "gap_evidence"].startswith("Unanswered but low volume: 3 conversations")
    assert gaps.loc[3, "high_volume"]
    assert _gaps(min_share=0.2).loc[3, "high_volume"] == False  # noqa: E712 (numpy bool)


def test_without_texts_labels_and_terms_describe_the_topics():
    texts = _texts()
    gaps = find_content_gaps(_topics(texts), PAGES, _queries()).set_index("topic_id")
    assert gaps.loc[1, "best_page"] == "/help/returns" and not gaps.loc[1, "is_content_gap"]
    assert gaps.loc[3, "is_content_gap"] and gaps.loc[4, "is_content_gap"]


def test_no_pages_at_all_means_every_high_volume_topic_is_a_gap():
    texts = _texts()
    gaps = find_content_gaps(_topics(texts), None, None, topic_texts=texts)
    assert gaps["is_content_gap"].tolist() == [True, True, True, True, False]
    assert gaps["best_page"].isna().all()
    assert "no help or other content pages" in gaps.loc[0, "gap_evidence"]
    assert find_content_gaps(_topics(texts).iloc[:0], PAGES, _queries()).empty


def test_merge_into_topics_keeps_extra_columns_and_the_closest_page():
    texts = _texts()
    topics = _topics(texts).assign(representative_question="How do I return an item?")
    gaps = find_content_gaps(topics, PAGES, _queries(), topic_texts=texts)
    merged = with_content_gaps(topics, gaps)
    assert list(merged.columns) == [
        "topic_id",
        "label",
        "top_terms",
        "conversations",
        "is_content_gap",
        "gap_evidence",
        "data_through",
        "representative_question",
        "is_answered",
        "best_page",
        "best_page_similarity",
    ]
    assert merged["is_content_gap"].dtype == bool
    assert merged.loc[0, "best_page"] == "/help/returns"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/", "home"),
        ("/products/merino-sweater", "catalogue"),
        ("/collections/sale", "catalogue"),
        ("https://shop.example/product-category/shirts/", "catalogue"),
        ("/checkout", "transactional"),
        ("/account/login", "transactional"),
        ("/help/returns", "content"),
        ("/faq", "content"),
        ("/blog/how-to-wash-wool", "content"),
    ],
)
def test_page_kind(path, kind):
    assert page_kind(path) == kind


def test_helpers():
    assert page_path("https://shop.example/help/returns/?x=1") == "/help/returns"
    assert page_path("/") == "/"
    assert stem("returns") == stem("returned") == stem("return") == "return"
    assert stem("deliveries") == "delivery"
    assert stem("shipping") == stem("ship") and stem("sizing") == stem("size")
    assert stem("billing") == stem("bill") and stem("charged") == stem("charge")


def test_nullable_topic_ids_and_unknown_topics_count_as_unassigned():
    texts = _texts()
    nullable = texts.assign(topic_id=texts["topic_id"].astype("Int64"))
    expected = _gaps(texts=texts)
    pd.testing.assert_frame_equal(_gaps(texts=nullable), expected)
    # conversations of a topic the frame does not list are just "other conversations"
    extra = pd.concat([texts, pd.DataFrame({"topic_id": [99] * 5, "text": ["hello"] * 5})])
    topics = _topics(texts)
    gaps = find_content_gaps(topics, PAGES, _queries(), topic_texts=extra).set_index("topic_id")
    assert gaps["is_content_gap"].equals(expected["is_content_gap"])
