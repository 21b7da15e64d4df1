"""rewrite_title never proposes rewriting a title for a brand or navigational query."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from flywheel_pipeline.insights.search_opportunities import OPPORTUNITY_COLUMNS
from flywheel_pipeline.recommendations.economics import ImpactAssumptions
from flywheel_pipeline.recommendations.first_touch import FrameFirstTouch
from flywheel_pipeline.recommendations.titles import rewrite_title_candidates, visit_values

DAY = dt.date(2026, 6, 30)
SITE = "https://www.acme-outdoor.com"


def _row(query: str, path: str, position: float) -> dict:
    return {
        "query": query,
        "page": f"{SITE}{path}",
        "opportunity_type": "ctr_underperformer",
        "impressions_28d": 5_000,
        "clicks_28d": 100,
        "ctr": 0.02,
        "avg_position": position,
        "expected_ctr": 0.06,
        "target_position": pd.NA,
        "estimated_click_gain_28d": 200.0,
        "p_value": 1e-6,
        "data_through": DAY,
    }


def _values():
    days = pd.date_range(pd.Timestamp(DAY) - pd.Timedelta(days=179), pd.Timestamp(DAY))
    traffic = pd.DataFrame(
        [(d.date(), path, 10) for d in days for path in ("/", "/p/1", "/help/returns")],
        columns=["report_date", "landing_page", "sessions"],
    )
    contacts = pd.DataFrame(
        {"contact_id": ["A"], "created_at": [pd.Timestamp(DAY) - pd.Timedelta(days=150)]}
    )
    orders = pd.DataFrame(
        {
            "contact_id": ["A"],
            "ordered_at": [pd.Timestamp(DAY) - pd.Timedelta(days=140)],
            "revenue": [500.0],
        }
    )
    return visit_values(traffic, FrameFirstTouch(contacts, orders), DAY)


def test_brand_and_navigational_queries_never_get_a_title_rewrite():
    found = pd.DataFrame(
        [
            _row("acme outdoor", "/", 1.2),  # the brand on the home page
            _row("Acme-Outdoor returns", "/help/returns", 1.4),  # the brand, spelled apart
            _row("outdoor shop near me", "/", 1.1),  # navigational: home page at the top
            _row("waterproof hiking jacket", "/p/1", 5.0),  # a real rewrite candidate
        ],
        columns=OPPORTUNITY_COLUMNS,
    )
    rows = rewrite_title_candidates(
        found, _values(), data_through=DAY, assumptions=ImpactAssumptions()
    )
    assert [r["target_id"] for r in rows] == ["waterproof hiking jacket"]
    assert "Benjamini–Hochberg" in rows[0]["rationale"]


def test_rewrite_title_brief_names_query_page_and_ctr_against_the_curve():
    found = pd.DataFrame(
        [
            _row("waterproof hiking jacket", "/p/1", 5.04),
            # a second page under-performs on it, with less to gain: not the target
            {
                **_row("waterproof hiking jacket", "/help/returns", 9.0),
                "estimated_click_gain_28d": 20.0,
            },
        ],
        columns=OPPORTUNITY_COLUMNS,
    )
    (row,) = rewrite_title_candidates(
        found, _values(), data_through=DAY, assumptions=ImpactAssumptions()
    )
    assert row["brief"].splitlines() == [
        'Query: "waterproof hiking jacket" (Search Console, last 28 days)',
        f"Page: {SITE}/p/1",
        "Impressions: 5,000 at mean position 5.0",
        "CTR now: 2.0% (100 clicks)",
        "Expected CTR at that position (the site's CTR curve): 6.0% (≈300 clicks)",
        "Write a title and meta description that answer the query in its own words.",
        "1 more page(s) of the site under-perform on this query.",
    ]
