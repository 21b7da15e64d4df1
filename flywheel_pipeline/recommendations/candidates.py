"""``build_candidates``: every recommendation type, ranked together by expected impact."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from flywheel_pipeline.insights._common import as_date
from flywheel_pipeline.recommendations._ids import rank
from flywheel_pipeline.recommendations.content import content_candidates
from flywheel_pipeline.recommendations.economics import (
    ImpactAssumptions,
    shop_economics,
    topic_stats,
)
from flywheel_pipeline.recommendations.leads import MAX_LEADS, follow_up_candidates


def build_candidates(
    *,
    data_through: dt.date,
    cycle: int = 0,
    topics: pd.DataFrame | None = None,
    assignments: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    lead_scores: pd.DataFrame | None = None,
    orders: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    model_runs: pd.DataFrame | None = None,
    assumptions: ImpactAssumptions | None = None,
    max_leads: int = MAX_LEADS,
) -> pd.DataFrame:
    """The ``ml.recommendation_candidates`` frame (docs/contracts.md).

    Inputs (each optional; a type whose inputs are missing proposes nothing):
    - ``topics``: topic_id, label, top_terms, conversations, is_content_gap, gap_evidence
      (optional best_page) — topics joined with :func:`find_content_gaps`.
    - ``assignments``: conversation_id, topic_id.
    - ``conversations``: conversation_id, started_at, resolved, contact_id.
    - ``lead_scores``: contact_id, lead_score.
    - ``orders``: contact_id, ordered_at, revenue (average order value, new-customer revenue
      and order rates after conversations).
    - ``contacts``: contact_id, created_at, channel_group (rationale only).
    - ``model_runs``: for the confidence of lead follow-ups.
    """
    day = as_date(data_through)
    assumptions = assumptions or ImpactAssumptions()
    econ = shop_economics(orders, day)
    rows: list[dict] = []
    if topics is not None and assignments is not None and conversations is not None:
        stats, overall = topic_stats(assignments, conversations, orders, day)
        rows += content_candidates(
            topics, stats, overall, econ, data_through=day, assumptions=assumptions
        )
    if lead_scores is not None:
        rows += follow_up_candidates(
            lead_scores, econ, data_through=day, assumptions=assumptions, contacts=contacts,
            model_runs=model_runs, max_leads=max_leads,
        )  # fmt: skip
    return rank(rows, data_through=day, cycle=cycle)
