"""Planted effects of recommendations, and the applied actions that switch them on.

An applied action is ``(action_type, target_id, applied_on)``. From ``applied_on`` (a
``datetime.date`` or ISO date string) on, the simulator changes its data as below. Random draws
never depend on the actions: an effect only moves thresholds or timings of draws that were
made anyway, so a run with actions and its control run differ *only* by the effect.

- create_content (topic key or planned page path): the topic's conversations drop by 40 %;
  its queries move to the new help page and their average position halves (more clicks).
- rewrite_title (query text, page path or URL): CTR of the query (or of every query on the
  page) rises by 50 %.
- follow_up_lead (contact_id): P(convert within 90 d) × 1.5 (cap 0.95) for a lead not yet
  converted, an open deal included.
- attend_deal (deal_id): the same on the deal's contact, × 1.3.
- reengage_customer (contact_id): purchase rate × 1.6 while the customer is still alive.
- ask_referral (contact_id): referral rate × 2.
- shift_budget (campaign pair ``"<giving campaign> -> <receiving campaign>"``, the names of
  the ad-spend ``campaign`` column, e.g. ``"generic_apparel -> brand_search"``; see
  :func:`budget_pair`): every day from ``applied_on`` on, 25 % of the receiving campaign's
  own spend that day is moved to it from the giving campaign (at most half of the giver's
  spend that day: a giver that is not running gives nothing). The receiver's spend rises by
  25 % and the giver's falls by the same amount, so total spend is unchanged; ad clicks follow
  spend with elasticity 0.85 (``catalog.SPEND_ELASTICITY``), so the receiver's paid sessions
  rise by 1.25^0.85 − 1 ≈ 20.9 % and the giver's fall; leads, customers and revenue follow
  through the usual chain. A name no campaign has changes nothing.
- fix_content (topic key): no planted effect at all (the evaluation's zero-effect type: its
  measured lift must be null).

To add an action type: add its rows to ``ACTION_EFFECTS``, then read
``AppliedActions.dates(action_type)`` in the module that simulates the affected metric and
apply the effect only to events at or after the date, by moving a threshold or a timing of an
existing draw (see ``people.convert`` or ``purchases.repeat_orders``), never by drawing anew.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flywheel_pipeline.sources.demo.catalog import SPEND_ELASTICITY

# shift_budget: the share of the receiving campaign's spend moved to it, and the most of the
# giving campaign's spend of a day that can go.
SHIFT_BUDGET_SHARE = 0.25
SHIFT_BUDGET_MAX_GIVER_SHARE = 0.5
BUDGET_PAIR_SEPARATOR = " -> "

ACTION_EFFECTS = pd.DataFrame(
    [
        ("create_content", "topic", "topic_conversations", -0.40),
        ("create_content", "topic", "topic_query_position", -0.50),
        ("rewrite_title", "query", "query_ctr", 0.50),
        ("follow_up_lead", "contact", "p_convert_90d", 0.50),
        ("attend_deal", "deal", "p_win", 0.30),
        ("reengage_customer", "contact", "purchase_rate", 0.60),
        ("ask_referral", "contact", "referral_rate", 1.00),
        # the receiving campaign's spend and paid sessions (the giver loses the same money)
        ("shift_budget", "campaign_pair", "campaign_spend", SHIFT_BUDGET_SHARE),
        (
            "shift_budget",
            "campaign_pair",
            "campaign_sessions",
            (1 + SHIFT_BUDGET_SHARE) ** SPEND_ELASTICITY - 1,
        ),
        ("fix_content", "topic", "topic_resolution_rate", 0.0),
    ],
    columns=["action_type", "target_type", "metric", "relative_effect"],
)
KNOWN_ACTIONS = frozenset(ACTION_EFFECTS["action_type"])


def effect(action_type: str, metric: str) -> float:
    rows = ACTION_EFFECTS[
        (ACTION_EFFECTS["action_type"] == action_type) & (ACTION_EFFECTS["metric"] == metric)
    ]
    return float(rows["relative_effect"].iloc[0])


def budget_pair(target_id: str) -> tuple[str, str]:
    """``"<giver> -> <receiver>"`` → ``(giver, receiver)``; a ValueError when malformed."""
    parts = str(target_id).split(BUDGET_PAIR_SEPARATOR)
    if len(parts) != 2 or not all(p.strip() for p in parts) or parts[0].strip() == parts[1].strip():
        raise ValueError(
            f"shift_budget target must be '<giving campaign>{BUDGET_PAIR_SEPARATOR}<receiving "
            f"campaign>' (two different campaigns), got {target_id!r}"
        )
    return parts[0].strip(), parts[1].strip()


def _as_day(value: object) -> np.datetime64:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if not isinstance(value, dt.date):
        raise ValueError(f"applied_on must be a date or ISO date string, got {value!r}")
    return np.datetime64(value, "D")


@dataclass(frozen=True)
class AppliedActions:
    """Applied actions by type: target_id -> first day the effect holds (UTC midnight)."""

    by_type: dict[str, dict[str, np.datetime64]]

    @classmethod
    def parse(cls, actions: tuple) -> AppliedActions:
        by_type: dict[str, dict[str, np.datetime64]] = {}
        for action in actions:
            if len(action) != 3:
                raise ValueError(f"applied action must be (type, target_id, applied_on): {action}")
            action_type, target, applied_on = action
            if action_type not in KNOWN_ACTIONS:
                raise ValueError(
                    f"unknown action type {action_type!r}; known: {sorted(KNOWN_ACTIONS)}"
                )
            if action_type == "shift_budget":
                budget_pair(target)  # malformed pairs fail here, not silently later
            day = _as_day(applied_on)
            targets = by_type.setdefault(action_type, {})
            # The earliest application wins: an effect cannot start twice.
            if str(target) not in targets or day < targets[str(target)]:
                targets[str(target)] = day
        return cls(by_type)

    def dates(self, action_type: str) -> dict[str, np.datetime64]:
        return self.by_type.get(action_type, {})

    def start_ns(self, action_type: str, targets: np.ndarray) -> np.ndarray:
        """Per target, the instant the effect starts (NaT where the action was not applied)."""
        mapping = self.dates(action_type)
        out = np.full(len(targets), np.datetime64("NaT"), dtype="datetime64[ns]")
        if not mapping:
            return out
        keys = pd.Series(np.asarray(targets, dtype=object)).map(
            {k: v.astype("datetime64[ns]") for k, v in mapping.items()}
        )
        found = keys.notna().to_numpy()
        out[found] = keys[found].to_numpy(dtype="datetime64[ns]")
        return out
