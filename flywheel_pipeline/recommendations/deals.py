"""``attend_deal``: focused sales attention on the open deals where it is worth most.

Expected impact (revenue over the next 90 days) = deal amount (from the CRM) × the rise in
P(win) (from the deal-scoring model) when attention multiplies the odds of winning by an
assumed odds ratio ``k``: ``p' = k·p / (1 − p + k·p)``, uplift ``p' − p``. An odds ratio moves
undecided deals (``p`` near ½) most and nearly decided ones little, so high-value deals with a
mid-range win probability rank first. The amount counts in full, i.e. the win is assumed to
land within the horizon; the rationale gives the median time from creation to a win in the
data as the evidence for that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel_pipeline.insights._common import (
    as_date,
    end_of_day,
    to_utc_naive,
)
from flywheel_pipeline.recommendations._ids import candidate, model_confidence, money
from flywheel_pipeline.recommendations.economics import ImpactAssumptions

MAX_DEALS = 20
STAGE_RATES = "stage win rates"


def attention_uplift(p: np.ndarray | float, odds_ratio: float) -> np.ndarray:
    """P(win) after attention minus before, when attention multiplies the odds by
    ``odds_ratio``."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return odds_ratio * p / (1 - p + odds_ratio * p) - p


def median_days_to_win(deals: pd.DataFrame, data_through: object) -> float:
    """Median days from creation to close of the deals won by ``data_through`` (NaN if none)."""
    if "closed_at" not in deals or "is_won" not in deals:
        return float("nan")
    closed = to_utc_naive(deals["closed_at"])
    created = to_utc_naive(deals["created_at"])
    won = deals["is_won"].fillna(False).astype(bool) & (closed < end_of_day(as_date(data_through)))
    days = (closed[won] - created[won]).dt.total_seconds() / 86_400
    return float(days.median()) if days.notna().any() else float("nan")


def attend_deal_candidates(
    deal_scores: pd.DataFrame,
    deals: pd.DataFrame,
    *,
    data_through: object,
    assumptions: ImpactAssumptions,
    model_runs: pd.DataFrame | None = None,
    max_deals: int = MAX_DEALS,
    days_to_win: float | None = None,
) -> list[dict]:
    """The ``max_deals`` open deals with the most revenue at stake.

    ``deal_scores``: deal_id, win_probability (open deals only). ``deals``
    (staging.stg_crm__deals): deal_id, amount, created_at (optional: stage, contact_id,
    closed_at, is_won). Deals without a positive amount have nothing to gain and are skipped.
    ``days_to_win``: :func:`median_days_to_win` of every deal, where ``deals`` holds only the
    scored ones (as the warehouse reads them: recommendations/inputs.py).
    """
    if deal_scores is None or deal_scores.empty or deals is None or deals.empty:
        return []
    keep = [c for c in ("deal_id", "contact_id", "stage", "amount", "created_at") if c in deals]
    scored = deal_scores[["deal_id", "win_probability"]].merge(
        deals[keep].drop_duplicates("deal_id"), on="deal_id", how="inner"
    )
    scored = scored[
        scored["win_probability"].notna() & scored["amount"].notna() & (scored["amount"] > 0)
    ].copy()
    if scored.empty:
        return []
    k = assumptions.attend_deal_odds_ratio
    if "created_at" in scored:
        scored["created_at"] = to_utc_naive(scored["created_at"])
    scored["uplift"] = attention_uplift(scored["win_probability"].to_numpy(), k)
    scored["impact"] = scored["amount"] * scored["uplift"]
    scored = scored.sort_values(["impact", "deal_id"], ascending=[False, True])
    n_open = len(scored)
    median_amount = float(scored["amount"].median())
    cycle = median_days_to_win(deals, data_through) if days_to_win is None else days_to_win
    cycle_text = (
        f"won deals closed a median {cycle:.0f} days after creation"
        if pd.notna(cycle)
        else "no won deal in the data yet to time a win"
    )
    stop = end_of_day(as_date(data_through))
    confidence, model_text = model_confidence(model_runs, "deal_scoring", baseline=STAGE_RATES)
    rows = []
    for rank, (_, deal) in enumerate(scored.head(max_deals).iterrows(), start=1):
        p, amount, uplift = float(deal["win_probability"]), float(deal["amount"]), deal["uplift"]
        facts = []
        if pd.notna(deal.get("stage")):
            facts.append(f"stage {deal['stage']}")
        if pd.notna(deal.get("created_at")):
            facts.append(f"open {max(0, (stop - deal['created_at']).days)} days")
        if pd.notna(deal.get("contact_id")):
            facts.append(f"contact {deal['contact_id']}")
        rows.append(
            candidate(
                rec_type="attend_deal",
                target_type="deal",
                target_id=deal["deal_id"],
                data_through=data_through,
                action=(
                    f"Give deal {deal['deal_id']} focused attention this week (a senior call, "
                    f"answer open objections, a tailored proposal): amount {money(amount)}."
                ),
                rationale=(
                    f"Deal {deal['deal_id']} ({', '.join(facts)}), amount {money(amount)} (median "
                    f"of {n_open} scored open deals {money(median_amount)}): win probability "
                    f"{p:.0%}, rank {rank} of {n_open} by revenue at stake; {model_text}. Assuming "
                    f"focused attention multiplies the odds of winning by {k:g}: P(win) {p:.0%} → "
                    f"{p + uplift:.0%}, +{uplift:.3f} × amount {money(amount)} = "
                    f"{money(amount * uplift)}, if the win lands within "
                    f"{assumptions.horizon_days} days ({cycle_text})."
                ),
                expected_impact=amount * uplift,
                confidence=confidence,
                score=p,
            )
        )
    return rows
