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
- shift_budget (campaign name): campaign spend +25 %; sessions and leads follow with
  elasticity 0.85.

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

ACTION_EFFECTS = pd.DataFrame(
    [
        ("create_content", "topic", "topic_conversations", -0.40),
        ("create_content", "topic", "topic_query_position", -0.50),
        ("rewrite_title", "query", "query_ctr", 0.50),
        ("follow_up_lead", "contact", "p_convert_90d", 0.50),
        ("attend_deal", "deal", "p_win", 0.30),
        ("reengage_customer", "contact", "purchase_rate", 0.60),
        ("ask_referral", "contact", "referral_rate", 1.00),
        ("shift_budget", "campaign", "campaign_spend", 0.25),
        ("shift_budget", "campaign", "campaign_sessions", 1.25**0.85 - 1),
    ],
    columns=["action_type", "target_type", "metric", "relative_effect"],
)
KNOWN_ACTIONS = frozenset(ACTION_EFFECTS["action_type"])


def effect(action_type: str, metric: str) -> float:
    rows = ACTION_EFFECTS[
        (ACTION_EFFECTS["action_type"] == action_type) & (ACTION_EFFECTS["metric"] == metric)
    ]
    return float(rows["relative_effect"].iloc[0])


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
