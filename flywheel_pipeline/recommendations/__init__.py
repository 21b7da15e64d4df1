"""Recommendations and the loop (SPEC §7): every action type ranked by expected impact in one
unit, and the measured outcome of the done ones.

:func:`build_candidates` turns the insight outputs into the ``ml.recommendation_candidates``
frame of docs/contracts.md. One small module per action type:

- :mod:`.content` — ``create_content`` for a content-gap topic, ``fix_content`` for a
  high-volume, low-resolution topic (target: topic);
- :mod:`.leads` — ``follow_up_lead`` for the open leads a follow-up helps most (target: contact);
- :mod:`.deals` — ``attend_deal`` for the open deals with the most revenue at stake, from the
  deal-scoring model and the deal amounts (target: deal);
- :mod:`.customers` — ``reengage_customer`` for valuable customers whose P(alive) is dropping,
  from the customer-value model (target: contact);
- :mod:`.titles` — ``rewrite_title`` for queries whose CTR is well below the site's curve,
  from the search opportunities and the first-touch value of a visit (target: query, the
  query text);
- :mod:`.referrals` — ``ask_referral`` for recent promoters, from NPS answers and referrals
  (target: contact);
- :mod:`.budget` — ``shift_budget`` from the paid campaign with the worst marginal return to
  the one with the best, from ad spend, sessions and first-touch revenue (target: campaign
  pair), and its measurement.

:mod:`.lists` folds the per-person types (leads, deals, customers, promoters) into one list
recommendation per type and run (``contact_list`` / ``deal_list``), its members in
``ml.recommendation_targets`` with a seeded random holdout (``FLYWHEEL_HOLDOUT_SHARE``) that
nobody acts on, so the list's lift is measured as a randomised experiment.

The type names are the ones the demo simulator plants effects for
(``sources/demo/effects.py``), so accepted recommendations move its data. Each model-driven
type is capped (``MAX_LEADS``, ``MAX_DEALS``, ``MAX_CUSTOMERS``, ``MAX_TITLES``,
``MAX_PROMOTERS``) so that none floods the list; a type whose inputs are missing proposes
nothing.

Impact unit: expected additional revenue over the next 90 days in the shop's currency
(:data:`._ids.IMPACT_UNIT`); order values and conversion rates come from the data, the effect
sizes of the actions are stated assumptions (:class:`.economics.ImpactAssumptions`) that
measured outcomes can replace.

:func:`measure_outcomes` (:mod:`.outcomes`) closes the loop: the ``ml.recommendation_outcomes``
frame, one row per done recommendation × metric, with the lift against a list's random
holdout or (difference in differences, :mod:`._windows`, refused when pre-trends diverge)
comparable untouched targets, and its interval. An action taken on a target is never proposed
for it again.
"""

from flywheel_pipeline.recommendations._ids import CANDIDATE_COLUMNS, IMPACT_UNIT, recommendation_id
from flywheel_pipeline.recommendations.candidates import build_candidates
from flywheel_pipeline.recommendations.economics import (
    ImpactAssumptions,
    ShopEconomics,
    shop_economics,
    topic_outcomes,
    topic_stats,
)
from flywheel_pipeline.recommendations.outcomes import OUTCOME_COLUMNS, measure_outcomes

__all__ = [
    "CANDIDATE_COLUMNS",
    "IMPACT_UNIT",
    "OUTCOME_COLUMNS",
    "ImpactAssumptions",
    "ShopEconomics",
    "build_candidates",
    "measure_outcomes",
    "recommendation_id",
    "shop_economics",
    "topic_outcomes",
    "topic_stats",
]
