"""Per-target actions as one list recommendation per type and run, with a random holdout.

``follow_up_lead``, ``attend_deal``, ``reengage_customer`` and ``ask_referral`` act on people
(or their deals) by the dozen: a team gets one recommendation a run ("Follow up these 48
leads"), not one per person. The per-type modules keep proposing one row per member (its
rationale is the member's ``reason``, its ``expected_impact`` the member's); :func:`fold_lists`
folds them into

- one candidate per type: ``target_type`` ``contact_list`` or ``deal_list``, ``target_id``
  ``"<type>:<data_through ISO date>"``, expected impact = the sum over the members that are
  *not* in the holdout, an action and a rationale that summarise the list;
- its members (:data:`TARGET_COLUMNS`, ``ml.recommendation_targets``): position (1 = highest
  impact), reason, expected_impact, the model's score used, and ``holdout``.

**Holdout.** Exactly ``round(share × n)`` members (half up; at least 1 when ``n ≥ 2`` and
``share > 0``, and never all of them) are drawn at random when the list is proposed, with a
numpy Generator seeded by ``stable_hash(recommendation_id, "holdout")``: a rerun on the same
data reproduces it, and it is recorded before anyone acts. Nobody acts on them; the outcome of
the list is the treated members against them (:mod:`.outcomes`), a randomised experiment.

**Acted members.** A member of a list that was accepted or done (holdout or not) is never
proposed again in a later list of the same kind of target: contacts across every contact
list, deals across deal lists; the contact of an acted deal is acted for contact lists, and
the deals of an acted contact for deal lists (the demo's planted effects of a follow-up and of
attention both move the same conversion). So the holdout stays untouched and nobody is treated
twice. :func:`acted_members` reads them from the earlier members and their decisions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from flywheel_pipeline.insights._common import as_date, stable_hash
from flywheel_pipeline.recommendations._ids import candidate, keep_decided, money
from flywheel_pipeline.tables import RECOMMENDATION_TARGETS

DEFAULT_HOLDOUT_SHARE = 0.2
TOP_REASONS = 3

TARGET_COLUMNS = RECOMMENDATION_TARGETS.column_names

# type: (list target_type, member target_type, members in words, action on the treated)
LIST_TYPES: dict[str, tuple[str, str, str, str]] = {
    "follow_up_lead": (
        "contact_list",
        "contact",
        "open leads",
        "Follow up these {k} leads personally (call or tailored email)",
    ),
    "attend_deal": (
        "deal_list",
        "deal",
        "open deals",
        "Give these {k} deals focused attention this week (a senior call, answer open "
        "objections, a tailored proposal)",
    ),
    "reengage_customer": (
        "contact_list",
        "contact",
        "customers at risk",
        "Re-engage these {k} customers with a personal win-back offer (a note from the team, "
        "a recommendation based on past orders, a loyalty discount)",
    ),
    "ask_referral": (
        "contact_list",
        "contact",
        "promoters",
        "Ask these {k} promoters for a referral (refer-a-friend link) or a public review",
    ),
}
LIST_TARGET_TYPES = frozenset(kind for kind, *_ in LIST_TYPES.values())


def holdout_size(n: int, share: float) -> int:
    """Members kept out: ``round(share × n)`` half up, at least 1 when ``n ≥ 2`` and
    ``share > 0``, at most ``n − 1`` (someone is treated)."""
    if not 0 <= share < 1:
        raise ValueError(f"holdout share must be in [0, 1), got {share}")
    if n < 2 or share == 0:
        return 0
    return min(n - 1, max(1, math.floor(share * n + 0.5)))


def holdout_mask(recommendation_id: str, n: int, share: float) -> np.ndarray:
    """Which of the ``n`` members (in position order) are the holdout: a random draw seeded
    by the recommendation id, so reruns reproduce it."""
    mask = np.zeros(n, dtype=bool)
    k = holdout_size(n, share)
    if k:
        rng = np.random.default_rng(int(stable_hash(recommendation_id, "holdout"), 16))
        mask[rng.choice(n, size=k, replace=False)] = True
    return mask


def list_target_id(rec_type: str, data_through: object) -> str:
    return f"{rec_type}:{as_date(data_through).isoformat()}"


def empty_targets() -> pd.DataFrame:
    return _targets_frame([])


def _targets_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=TARGET_COLUMNS)
    text = ("recommendation_id", "target_type", "target_id", "reason")
    return frame.astype(
        {
            "position": "int64",
            "expected_impact": "float64",
            "score": "float64",
            "holdout": "bool",
            **dict.fromkeys(text, "string"),
        }
    )


def fold_list(
    members: list[dict], *, rec_type: str, data_through: object, holdout_share: float
) -> tuple[dict | None, list[dict]]:
    """One type's per-member rows (from :func:`._ids.candidate`, with ``score``) → the list
    candidate and its member rows; ``(None, [])`` without members."""
    if not members:
        return None, []
    list_type, member_type, noun, action = LIST_TYPES[rec_type]
    ordered = sorted(members, key=lambda r: (-r["expected_impact"], r["target_id"]))
    target_id = list_target_id(rec_type, data_through)
    row = candidate(
        rec_type=rec_type,
        target_type=list_type,
        target_id=target_id,
        data_through=data_through,
        action="",
        rationale="",
        expected_impact=0.0,
        confidence=float(np.mean([m["confidence"] for m in ordered])),
    )
    rec_id = row["recommendation_id"]
    held = holdout_mask(rec_id, len(ordered), holdout_share)
    treated = [m for m, h in zip(ordered, held, strict=True) if not h]
    impact = sum(m["expected_impact"] for m in treated)
    n, k = len(ordered), int(held.sum())
    top = "; ".join(
        f"#{i} {m['target_id']}: {m['rationale']}" for i, m in enumerate(ordered[:TOP_REASONS], 1)
    )
    holdout_text = (
        f"{k} of the {n} ({k / n:.0%}), drawn at random, are kept as a holdout and left "
        "alone, so that the lift can be measured against them"
        if k
        else "no holdout is kept: the lift of this list cannot be measured"
    )
    row["action"] = (
        f"{action.format(k=n - k)}: the members not in the holdout (actions/{rec_type}.csv)."
    )
    row["rationale"] = (
        f"The {n} {noun} with the highest expected gain; {holdout_text}. Expected impact: "
        f"the sum over the {n - k} treated, {money(impact)}. Top reasons: {top}"
    )
    row["expected_impact"] = round(max(0.0, impact), 2)
    targets = [
        {
            "recommendation_id": rec_id,
            "target_type": member_type,
            "target_id": str(m["target_id"]),
            "position": position,
            "reason": m["rationale"],
            "expected_impact": m["expected_impact"],
            "score": _score(m.get("score")),
            "holdout": bool(h),
        }
        for position, (m, h) in enumerate(zip(ordered, held, strict=True), start=1)
    ]
    return row, targets


def _score(value: object) -> float:
    return float(value) if value is not None and pd.notna(value) else float("nan")


def one_list_per_person(rows: list[dict], deals: pd.DataFrame | None = None) -> list[dict]:
    """Per-member rows of :data:`LIST_TYPES` with each person in one list at most: the row with
    the highest expected impact wins (a deal is its contact's). Otherwise a customer could be
    held out of one list and contacted through another, and the holdout would not be
    untouched."""
    contact_of: dict[str, str] = {}
    if deals is not None and len(deals) and {"deal_id", "contact_id"} <= set(deals):
        pairs = deals[["deal_id", "contact_id"]].dropna().astype(str)
        contact_of = dict(zip(pairs["deal_id"], pairs["contact_id"], strict=True))
    members = [r for r in rows if r["type"] in LIST_TYPES]
    members.sort(key=lambda r: (-r["expected_impact"], r["type"], r["target_id"]))
    seen: set[str] = set()
    kept: list[dict] = []
    for row in members:
        person = contact_of.get(row["target_id"], row["target_id"])
        if row["target_type"] == "deal" and row["target_id"] not in contact_of:
            person = f"deal:{row['target_id']}"
        if person not in seen:
            seen.add(person)
            kept.append(row)
    return [r for r in rows if r["type"] not in LIST_TYPES] + kept


def fold_lists(
    rows: list[dict], *, data_through: object, holdout_share: float
) -> tuple[list[dict], pd.DataFrame]:
    """Candidate rows with the per-member rows of :data:`LIST_TYPES` folded into one list
    each, and the members frame (:data:`TARGET_COLUMNS`)."""
    kept = [r for r in rows if r["type"] not in LIST_TYPES]
    members: list[dict] = []
    for rec_type in LIST_TYPES:
        row, targets = fold_list(
            [r for r in rows if r["type"] == rec_type],
            rec_type=rec_type,
            data_through=data_through,
            holdout_share=holdout_share,
        )
        if row is not None:
            kept.append(row)
            members += targets
    return kept, _targets_frame(members)


def acted_members(
    targets: pd.DataFrame | None,
    decisions: pd.DataFrame | None,
    deals: pd.DataFrame | None = None,
    candidates: pd.DataFrame | None = None,
) -> dict[str, set[str]]:
    """Target ids per target type that must not be proposed again: members (holdout or not)
    of list recommendations accepted or done (``"contact"``, ``"deal"``), and the targets of
    every other recommendation accepted or done (``"query"``, ``"topic"``,
    ``"campaign_pair"`` …: a title rewritten once is not proposed for a rewrite again, and a
    later outcome would measure nothing); the contact of an acted deal counts as acted, and
    so do the deals of an acted contact (``deals``: deal_id, contact_id)."""
    acted: dict[str, set[str]] = {"contact": set(), "deal": set()}
    if decisions is None or decisions.empty:
        return acted
    flags = [c for c in ("accepted_at", "done_at") if c in decisions]
    if flags:
        mask = decisions[flags].notna().any(axis=1)
    else:  # a decisions frame with statuses only
        mask = decisions["status"].isin(["accepted", "done", "measured"])
    ids = set(decisions.loc[mask, "recommendation_id"].astype(str))
    frames = []
    if targets is not None and len(targets):
        frames.append(targets[["recommendation_id", "target_type", "target_id"]])
    if candidates is not None and len(candidates) and "target_type" in candidates:
        frames.append(candidates[["recommendation_id", "target_type", "target_id"]])
    for frame in frames:
        rows = frame[frame["recommendation_id"].astype(str).isin(ids)]
        for kind, group in rows.groupby(rows["target_type"].astype(str)):
            acted.setdefault(kind, set()).update(group["target_id"].astype(str))
    if deals is not None and len(deals) and {"deal_id", "contact_id"} <= set(deals):
        pairs = deals[["deal_id", "contact_id"]].dropna().astype(str)
        deal_contacts = set(pairs.loc[pairs["deal_id"].isin(acted["deal"]), "contact_id"])
        contact_deals = set(pairs.loc[pairs["contact_id"].isin(acted["contact"]), "deal_id"])
        acted["contact"] |= deal_contacts
        acted["deal"] |= contact_deals
    return acted


def targets_with_decided_history(
    fresh: pd.DataFrame, previous: pd.DataFrame | None, decided_ids: Iterable[str]
) -> pd.DataFrame:
    """``fresh`` members plus the members of every earlier recommendation someone decided
    on; a decided recommendation keeps the members (and holdout) it was decided with, even
    when this run proposes it again (a rerun on the same data)."""
    merged = keep_decided(fresh, previous, decided_ids)
    return merged if merged is fresh else _targets_frame(merged.to_dict("records"))
