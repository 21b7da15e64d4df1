"""``build_candidates``: every recommendation type, ranked together by expected impact; the
per-target types folded into one list each (:mod:`.lists`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

import pandas as pd

from flywheel_pipeline.insights._common import as_date
from flywheel_pipeline.recommendations._ids import keep_decided, rank
from flywheel_pipeline.recommendations.budget import shift_budget_candidates
from flywheel_pipeline.recommendations.content import content_candidates, topic_questions
from flywheel_pipeline.recommendations.customers import (
    MAX_CUSTOMERS,
    KnownCustomers,
    reengage_candidates,
)
from flywheel_pipeline.recommendations.deals import MAX_DEALS, attend_deal_candidates
from flywheel_pipeline.recommendations.economics import (
    ImpactAssumptions,
    ShopEconomics,
    shop_economics,
    topic_outcomes,
    topic_stats,
)
from flywheel_pipeline.recommendations.first_touch import FirstTouch, FrameFirstTouch
from flywheel_pipeline.recommendations.leads import MAX_LEADS, OpenLeads, follow_up_candidates
from flywheel_pipeline.recommendations.lists import (
    DEFAULT_HOLDOUT_SHARE,
    empty_targets,
    fold_lists,
    one_list_per_person,
)
from flywheel_pipeline.recommendations.referrals import (
    MAX_PROMOTERS,
    Promoters,
    ReferralValue,
    ask_referral_candidates,
)
from flywheel_pipeline.recommendations.titles import (
    MAX_TITLES,
    rewrite_title_candidates,
    visit_values,
)


class Recommendations(NamedTuple):
    candidates: pd.DataFrame  # ml.recommendation_candidates
    targets: pd.DataFrame  # ml.recommendation_targets: members of the list recommendations


def build_candidates(**kwargs) -> pd.DataFrame:
    """The ``ml.recommendation_candidates`` frame alone (see :func:`build_recommendations`)."""
    return build_recommendations(**kwargs).candidates


def _without(frame: pd.DataFrame | None, column: str, ids: set[str]) -> pd.DataFrame | None:
    if frame is None or not ids or column not in frame:
        return frame
    return frame[~frame[column].astype(str).isin(ids)]


def build_recommendations(
    *,
    data_through: dt.date | None,
    cycle: int = 0,
    topics: pd.DataFrame | None = None,
    assignments: pd.DataFrame | None = None,
    conversations: pd.DataFrame | None = None,
    lead_scores: pd.DataFrame | None = None,
    orders: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    model_runs: pd.DataFrame | None = None,
    deal_scores: pd.DataFrame | None = None,
    deals: pd.DataFrame | None = None,
    days_to_win: float | None = None,
    customer_value: pd.DataFrame | None = None,
    search_opportunities: pd.DataFrame | None = None,
    traffic: pd.DataFrame | None = None,
    nps: pd.DataFrame | None = None,
    referrals: pd.DataFrame | None = None,
    campaign_days: pd.DataFrame | None = None,
    first_messages: pd.DataFrame | None = None,
    search_queries: pd.DataFrame | None = None,
    topic_counts: pd.DataFrame | None = None,
    economics: ShopEconomics | None = None,
    first_touch: FirstTouch | None = None,
    promoters: Promoters | None = None,
    referral_value: ReferralValue | None = None,
    open_leads: OpenLeads | None = None,
    known_customers: KnownCustomers | None = None,
    assumptions: ImpactAssumptions | None = None,
    max_leads: int = MAX_LEADS,
    max_deals: int = MAX_DEALS,
    max_customers: int = MAX_CUSTOMERS,
    max_titles: int = MAX_TITLES,
    max_promoters: int = MAX_PROMOTERS,
    holdout_share: float = DEFAULT_HOLDOUT_SHARE,
    acted: dict[str, set[str]] | None = None,
) -> Recommendations:
    """The ``ml.recommendation_candidates`` and ``ml.recommendation_targets`` frames
    (docs/contracts.md).

    Inputs (each optional; a type whose inputs are missing proposes nothing):
    - ``topics``: topic_id, label, top_terms, conversations, is_content_gap, gap_evidence
      (optional best_page) — topics joined with :func:`find_content_gaps`.
    - ``assignments``: conversation_id, topic_id.
    - ``conversations``: conversation_id, started_at, resolved, contact_id.
    - ``lead_scores``: contact_id, lead_score.
    - ``orders``: contact_id, ordered_at, revenue (average order value, new-customer revenue
      and order rates after conversations, customers' spend, value of visits and referrals).
    - ``contacts``: contact_id, created_at, channel_group, first_landing_page (rationale of
      lead follow-ups; first-touch value of a landing page).
    - ``model_runs``: rows of the ``*_runs`` tables (lead_scoring, deal_scoring,
      customer_value), for the confidence of the model-driven types.
    - ``deal_scores`` + ``deals``: ``attend_deal`` (ml.deal_scores, staging.stg_crm__deals:
      every deal, or the scored ones with ``days_to_win``, the median days from creation to a
      win of every deal, :func:`.deals.median_days_to_win`).
    - ``customer_value``: ``reengage_customer`` (ml.customer_value).
    - ``search_opportunities`` + ``traffic`` (report_date, landing_page, sessions from
      staging.stg_ga4__traffic_acquisition): ``rewrite_title``.
    - ``nps`` + ``referrals``: ``ask_referral`` (staging.stg_crm__nps_responses,
      staging.stg_crm__referrals), or ``promoters`` and ``referral_value``
      (:class:`.referrals.Promoters`, :class:`.referrals.ReferralValue`: the acted contacts'
      answers already left out) as the warehouse computes them (:mod:`.list_inputs`).
    - ``campaign_days`` (date, campaign, spend, sessions from
      intermediate.int_ads__campaign_days) with ``contacts`` (campaign) and ``orders``:
      ``shift_budget`` (:mod:`.budget`).
    - ``first_messages`` (conversation_id, first_user_text from
      intermediate.int_conversations__texts) and ``search_queries``
      (intermediate.int_search__query_pages_recent): the brief of the content actions.
    - ``topic_counts`` (:func:`.economics.topic_outcomes`), ``economics``
      (:func:`.economics.shop_economics`) and ``first_touch`` (:mod:`.first_touch`) as the
      warehouse computes them (:mod:`.inputs`); without them they are computed from
      ``assignments``, ``conversations``, ``contacts`` and ``orders``. ``open_leads``
      (:class:`.leads.OpenLeads`) where ``lead_scores`` holds only the leads a follow-up
      helps most, and ``known_customers`` (:class:`.customers.KnownCustomers`) where
      ``customer_value`` holds only the customers at risk.

    ``max_*`` cap each model-driven type (the size of a list). ``follow_up_lead``,
    ``attend_deal``, ``reengage_customer`` and ``ask_referral`` are one list recommendation
    each, ``holdout_share`` of its members kept as a random holdout (:mod:`.lists`);
    ``acted`` (target ids per target type, :func:`.lists.acted_members`) are never proposed
    or listed again. Without a ``data_through`` (an empty warehouse) the frames are empty.
    """
    if data_through is None:
        return Recommendations(rank([], data_through=None, cycle=cycle), empty_targets())
    day = as_date(data_through)
    acted = acted or {}
    contacts_done, deals_done = set(acted.get("contact", ())), set(acted.get("deal", ()))
    lead_scores = _without(lead_scores, "contact_id", contacts_done)
    customer_value = _without(customer_value, "contact_id", contacts_done)
    nps = _without(nps, "contact_id", contacts_done)
    deal_scores = _without(deal_scores, "deal_id", deals_done)
    assumptions = assumptions or ImpactAssumptions()
    econ = economics or shop_economics(orders, day)
    touch = first_touch or FrameFirstTouch(contacts, orders)
    if topic_counts is None and assignments is not None and conversations is not None:
        topic_counts = topic_outcomes(assignments, conversations, orders, day)
    rows: list[dict] = []
    if topics is not None and topic_counts is not None:
        stats, overall = topic_stats(topic_counts)
        questions = None
        if first_messages is not None:
            questions = topic_questions(first_messages, assignments)
        rows += content_candidates(
            topics,
            stats,
            overall,
            econ,
            data_through=day,
            assumptions=assumptions,
            questions=questions,
            searches=search_queries,
        )
    common = {"data_through": day, "assumptions": assumptions}
    scored = {**common, "model_runs": model_runs}  # the model-driven types
    if lead_scores is not None:
        rows += follow_up_candidates(
            lead_scores,
            econ,
            contacts=contacts,
            open_leads=open_leads,
            max_leads=max_leads,
            **scored,
        )
    if deal_scores is not None and deals is not None:
        rows += attend_deal_candidates(
            deal_scores, deals, days_to_win=days_to_win, max_deals=max_deals, **scored
        )
    if customer_value is not None:
        rows += reengage_candidates(
            customer_value,
            econ,
            orders=orders,
            known=known_customers,
            max_customers=max_customers,
            **scored,
        )
    if search_opportunities is not None and traffic is not None:
        values = visit_values(traffic, touch, day)
        rows += rewrite_title_candidates(
            search_opportunities, values, max_titles=max_titles, **common
        )
    if promoters is not None or (nps is not None and referrals is not None):
        rows += ask_referral_candidates(
            nps,
            referrals,
            orders=orders,
            max_promoters=max_promoters,
            promoters=promoters,
            value=referral_value,
            **common,
        )
    if campaign_days is not None:
        rows += shift_budget_candidates(campaign_days, touch, **common)
    # an action already taken on a target is not proposed again (lists: their members)
    rows = [r for r in rows if r["target_id"] not in acted.get(r["target_type"], ())]
    rows = one_list_per_person(rows, deals)
    rows, targets = fold_lists(rows, data_through=day, holdout_share=holdout_share)
    return Recommendations(rank(rows, data_through=day, cycle=cycle), targets)


def with_decided_history(
    fresh: pd.DataFrame, previous: pd.DataFrame | None, decided_ids: Iterable[str]
) -> pd.DataFrame:
    """``fresh`` plus every earlier candidate an operator decided on.

    Each run proposes anew (ids include data_through), so without this a recommendation
    accepted or done last week would vanish from flywheel.recommendations with its status,
    and its outcome could never be measured. A decided candidate keeps the row it was
    decided with, even when this run proposes the same id again (a rerun on the same data),
    as its members do (:func:`.lists.targets_with_decided_history`). Undecided proposals of
    earlier runs are dropped: they were never acted on.
    """
    return keep_decided(fresh, previous, decided_ids)
