"""``follow_up_lead``: personal follow-up of the open leads it helps most.

Expected impact (revenue over the next 90 days) = the extra conversion probability a
follow-up brings (:func:`follow_up_gain`: the lead score, P(customer within 90 days) from the
lead-scoring model, raised by the assumed relative lift, capped at 1) × revenue of a new
customer in its first 90 days (from the data). The cap makes the gain peak below the top
scores: a lead that converts almost surely anyway gains little, so the list takes the leads
with the largest gain, not the largest score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flywheel_pipeline.recommendations._ids import candidate, model_confidence, money
from flywheel_pipeline.recommendations.economics import ImpactAssumptions, ShopEconomics

MAX_LEADS = 60


@dataclass(frozen=True)
class OpenLeads:
    """How many open leads are scored and their mean score, where ``lead_scores`` holds only
    the top ones (as the warehouse reads them: recommendations/inputs.py)."""

    count: int
    mean_score: float


def follow_up_gain(score, lift: float):
    """The extra conversion probability a follow-up brings to a lead of ``score`` (a number
    or an array): ``min(1, score × (1 + lift)) − score``."""
    return np.minimum(1.0, score * (1 + lift)) - score


def follow_up_candidates(
    lead_scores: pd.DataFrame,
    econ: ShopEconomics,
    *,
    data_through: object,
    assumptions: ImpactAssumptions,
    contacts: pd.DataFrame | None = None,
    open_leads: OpenLeads | None = None,
    model_runs: pd.DataFrame | None = None,
    max_leads: int = MAX_LEADS,
) -> list[dict]:
    """The ``max_leads`` open leads with the largest :func:`follow_up_gain` (ties: the higher
    score, then contact_id). ``lead_scores``: contact_id, lead_score (all open leads, or the
    top ones by that order with ``open_leads``); ``contacts`` (optional, for the
    rationale): contact_id, created_at, channel_group."""
    if lead_scores is None or lead_scores.empty:
        return []
    scores = lead_scores[lead_scores["lead_score"] > 0]
    if open_leads is None:
        open_leads = OpenLeads(len(lead_scores), float(lead_scores["lead_score"].mean()))
    mean_score = open_leads.mean_score
    lift = assumptions.follow_up_relative_lift
    top = (
        scores.assign(gain=follow_up_gain(scores["lead_score"].to_numpy(float), lift))
        .sort_values(["gain", "lead_score", "contact_id"], ascending=[False, False, True])
        .head(max_leads)
    )
    if contacts is not None and len(contacts):
        keep = [c for c in ("contact_id", "created_at", "channel_group") if c in contacts]
        top = top.merge(contacts[keep].drop_duplicates("contact_id"), on="contact_id", how="left")
    confidence, model_text = model_confidence(
        model_runs, "lead_scoring", baseline="channel conversion rates"
    )
    n_open = open_leads.count
    rows = []
    for rank, (_, lead) in enumerate(top.iterrows(), start=1):
        p, extra = float(lead["lead_score"]), float(lead["gain"])
        impact = extra * econ.revenue_per_new_customer_90d
        origin = []
        if pd.notna(lead.get("channel_group", math.nan)):
            origin.append(f"via {lead['channel_group']}")
        if pd.notna(lead.get("created_at", math.nan)):
            origin.append(f"created {pd.Timestamp(lead['created_at']).date()}")
        rows.append(
            candidate(
                rec_type="follow_up_lead",
                target_type="contact",
                target_id=lead["contact_id"],
                data_through=data_through,
                action=f"Follow up lead {lead['contact_id']} personally (call or tailored email).",
                rationale=(
                    f"Lead score {p:.0%} (rank {rank:,} of {n_open:,} open leads by the gain "
                    f"of a follow-up, mean score {mean_score:.1%})"
                    f"{' ' + ', '.join(origin) if origin else ''}; {model_text}. Assuming a "
                    f"follow-up raises the conversion probability by {lift:.0%} (relative): "
                    f"+{extra:.3f} expected customers × {money(econ.revenue_per_new_customer_90d)} "
                    f"first-90-day revenue of a new customer = {money(impact)}."
                ),
                expected_impact=impact,
                confidence=confidence,
                score=p,
            )
        )
    return rows
