"""Recommendation candidates (SPEC §7): every action type ranked by expected impact in one unit.

:func:`build_candidates` turns the insight outputs into the ``ml.recommendation_candidates``
frame of docs/contracts.md. One small module per action type:

- :mod:`.content` — ``create_content`` for a content-gap topic, ``fix_content`` for a
  high-volume, low-resolution topic;
- :mod:`.leads` — ``follow_up_lead`` for the top-scored open leads.

Impact unit: expected additional revenue over the next 90 days in the shop's currency
(:data:`._ids.IMPACT_UNIT`); order values and conversion rates come from the data, the effect
sizes of the actions are stated assumptions (:class:`.economics.ImpactAssumptions`) that
measured outcomes can replace.
"""

from flywheel_pipeline.recommendations._ids import CANDIDATE_COLUMNS, IMPACT_UNIT, recommendation_id
from flywheel_pipeline.recommendations.candidates import build_candidates
from flywheel_pipeline.recommendations.economics import (
    ImpactAssumptions,
    ShopEconomics,
    shop_economics,
    topic_stats,
)

__all__ = [
    "CANDIDATE_COLUMNS",
    "IMPACT_UNIT",
    "ImpactAssumptions",
    "ShopEconomics",
    "build_candidates",
    "recommendation_id",
    "shop_economics",
    "topic_stats",
]
