"""Content gaps: a high-volume topic that no page or query answers is flagged."""

from __future__ import annotations

import pandas as pd

from flywheel_pipeline.insights.content_gaps import (
    find_content_gaps,
    page_path,
    stem,
    with_content_gaps,
)

TOPICS = pd.DataFrame({
    "topic_id": [1, 2, 3, 4, 5],
    "label": ["refund / return label", "invoice / vat", "sizing / size chart",
              "warranty / repair", "misc"],
    "top_terms": [
        "refund, return label, money back, returned, label",
        "invoice, vat number, billing address, invoice copy",
        "size chart, sizing, fits small, measurements",
        "warranty claim, repair, broken zipper, warranty",
        "warranty claim, repair",
    ],
    "conversations": [300, 250, 200, 180, 3],
    "data_through": pd.Timestamp("2026-06-30").date(),
})  # fmt: skip
PAGES = pd.DataFrame({
    "page_path": ["/help/returns-and-refunds", "/help/size-chart", "/", "/blog/summer-sale"],
    "page_title": ["Returns and refunds: print your return label", "Size chart & fit guide",
                   "Home", "Summer sale"],
})  # fmt: skip
QUERIES = pd.DataFrame({
    "query": ["download invoice copy", "vat number on invoice", "billing address change",
              "warranty"],
    "page": ["https://shop.example/account/invoices", "https://shop.example/account/invoices",
             "https://shop.example/account/invoices", "https://shop.example/blog/summer-sale"],
    "impressions": [500, 120, 80, 3],
})  # fmt: skip


def test_detects_unanswered_topic():
    gaps = find_content_gaps(TOPICS, PAGES, QUERIES).set_index("topic_id")
    # refunds are answered by a help page, invoices by search queries landing on /account/invoices
    assert not gaps.loc[1, "is_content_gap"]
    assert gaps.loc[1, "best_page"] == "/help/returns-and-refunds"
    assert not gaps.loc[2, "is_content_gap"]
    assert gaps.loc[2, "best_page"] == "/account/invoices"
    assert not gaps.loc[3, "is_content_gap"]
    # warranty: high volume, no page; the one "warranty" query has too few impressions
    assert gaps.loc[4, "is_content_gap"]
    assert "Content gap" in gaps.loc[4, "gap_evidence"]
    assert "180 conversations" in gaps.loc[4, "gap_evidence"]
    # low-volume topic with the same terms is not a gap
    assert not gaps.loc[5, "is_content_gap"] and not gaps.loc[5, "high_volume"]


def test_queries_can_answer_a_topic():
    extra = pd.concat([QUERIES, pd.DataFrame({
        "query": ["warranty claim form", "repair broken zipper"],
        "page": ["https://shop.example/help/warranty"] * 2, "impressions": [400, 90],
    })])  # fmt: skip
    gaps = find_content_gaps(TOPICS, PAGES, extra).set_index("topic_id")
    assert not gaps.loc[4, "is_content_gap"]
    assert gaps.loc[4, "best_page"] == "/help/warranty"


def test_no_pages_at_all_means_every_high_volume_topic_is_a_gap():
    gaps = find_content_gaps(TOPICS, None, None)
    assert gaps["is_content_gap"].tolist() == [True, True, True, True, False]
    assert gaps["best_page"].isna().all()


def test_merge_into_topics_and_helpers():
    gaps = find_content_gaps(TOPICS, PAGES, QUERIES)
    merged = with_content_gaps(TOPICS, gaps)
    assert list(merged.columns) == ["topic_id", "label", "top_terms", "conversations",
                                    "is_content_gap", "gap_evidence", "data_through"]  # fmt: skip
    assert merged["is_content_gap"].dtype == bool
    assert page_path("https://shop.example/help/returns/?x=1") == "/help/returns"
    assert page_path("/") == "/"
    assert stem("returns") == stem("returned") == stem("return") == "return"
    assert stem("deliveries") == "delivery"
    assert stem("shipping") == stem("ship") and stem("sizing") == stem("size")
    assert stem("billing") == stem("bill") and stem("charged") == stem("charge")
