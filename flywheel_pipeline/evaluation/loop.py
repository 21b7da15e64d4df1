"""The loop against the planted effects: does each measured outcome find the effect the demo
planted for its action (``demo_truth.action_effects``)?

An outcome covers the planted effect when its 95 % interval contains it; it is significant
when the interval excludes zero. ``fix_content`` has no planted effect: it is the type on
which a significant outcome is a false alarm. Per action type, :func:`lift_by_type` pools the
outcomes (inverse-variance mean of log lifts, the interval's width giving each one's standard
error) for the report's measured-vs-planted chart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from flywheel_pipeline.warehouse import read_relation_if_exists

# Which planted effect each action type's outcome estimates (demo_truth.action_effects.metric).
PLANTED_METRIC = {
    "rewrite_title": "query_ctr",
    "create_content": "topic_conversations",
    "fix_content": "topic_resolution_rate",
    "follow_up_lead": "p_convert_90d",
    "attend_deal": "p_win",
    "reengage_customer": "purchase_rate",
    "ask_referral": "referral_rate",
    "shift_budget": "campaign_sessions",
}
_Z = stats.norm.ppf(0.975)
JUDGED_COLUMNS = [
    "recommendation_id",
    "type",
    "metric",
    "estimated_lift",
    "ci_low",
    "ci_high",
    "n",
    "planted_lift",
    "covers_planted",
    "significant",
]

LIFT_COLUMNS = [
    "type",
    "outcomes",
    "measured_lift",
    "ci_low",
    "ci_high",
    "planted_lift",
    "covering_share",
    "significant_share",
]


def planted_effects(conn) -> dict[str, float]:
    """Planted relative effect per action type (0 for a type with none planted)."""
    effects = read_relation_if_exists(conn, "demo_truth.action_effects")
    planted = dict.fromkeys(PLANTED_METRIC, 0.0)
    if effects is None:
        return planted
    for row in effects.itertuples(index=False):
        if PLANTED_METRIC.get(row.action_type) == row.metric:
            planted[row.action_type] = float(row.relative_effect)
    return planted


def outcomes_against_planted(conn) -> pd.DataFrame:
    """Every measured outcome with the planted effect of its action beside it."""
    frame = read_relation_if_exists(conn, "flywheel.recommendation_outcomes")
    if frame is None or frame.empty:
        return pd.DataFrame(columns=JUDGED_COLUMNS)
    planted = planted_effects(conn)
    frame["planted_lift"] = frame["type"].map(planted)
    frame["covers_planted"] = (frame["ci_low"] <= frame["planted_lift"]) & (
        frame["planted_lift"] <= frame["ci_high"]
    )
    frame["significant"] = (frame["ci_low"] > 0) | (frame["ci_high"] < 0)
    return frame[JUDGED_COLUMNS].sort_values(["type", "recommendation_id"], ignore_index=True)


def lift_by_type(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per action type: outcomes, the pooled lift with its 95 % interval, the planted lift,
    and the share of outcomes that cover it / are significant."""
    rows = []
    usable = outcomes.dropna(subset=["estimated_lift", "ci_low", "ci_high"])
    usable = usable[(usable["ci_low"] > -1) & (usable["estimated_lift"] > -1)]
    for kind, group in usable.groupby("type"):
        centre = np.log1p(group["estimated_lift"].to_numpy(float))
        se = (np.log1p(group["ci_high"]) - np.log1p(group["ci_low"])).to_numpy(float) / (2 * _Z)
        weight = 1 / np.maximum(se, 1e-6) ** 2
        mean = float((weight * centre).sum() / weight.sum())
        half = _Z / np.sqrt(weight.sum())
        rows.append(
            {
                "type": kind,
                "outcomes": len(group),
                "measured_lift": float(np.expm1(mean)),
                "ci_low": float(np.expm1(mean - half)),
                "ci_high": float(np.expm1(mean + half)),
                "planted_lift": float(group["planted_lift"].iloc[0]),
                "covering_share": float(group["covers_planted"].mean()),
                "significant_share": float(group["significant"].mean()),
            }
        )
    return pd.DataFrame(rows, columns=LIFT_COLUMNS)


ZERO_EFFECT_TYPE = "fix_content"
LAST_CYCLES = 3


def loop_verdict(cycles: pd.DataFrame, outcomes: pd.DataFrame) -> list[tuple[str, bool | None]]:
    """The checks issue #10 states for a simulation, each a sentence and whether it holds
    (None where the run cannot tell, e.g. without a control arm or measured outcomes)."""
    checks: list[tuple[str, bool | None]] = []
    treated = cycles[cycles["arm"] == "treated"].set_index("cycle").sort_index()
    control = cycles[cycles["arm"] == "control"].set_index("cycle").sort_index()
    if len(control) > LAST_CYCLES and len(treated) == len(control):
        last = treated.index[-LAST_CYCLES:]
        gain = float(treated.loc[last, "revenue"].sum() - control.loc[last, "revenue"].sum())
        noise = float(control["revenue"].iloc[1:].diff().dropna().std())
        checks.append(
            (
                f"treated revenue over the last {LAST_CYCLES} cycles beats the control's by "
                f"{gain:,.0f}; the control's cycle-to-cycle noise (sd) is {noise:,.0f}",
                gain > noise,
            )
        )
    else:
        checks.append(("treated vs control revenue: needs a control arm and > 3 cycles", None))
    measured = outcomes.dropna(subset=["ci_low", "ci_high"])
    if len(measured):
        share = float(measured["covers_planted"].mean())
        checks.append(
            (
                f"the planted effect lies inside the 95 % interval for {share:.0%} of "
                f"{len(measured)} measured outcomes (target ≥ 80 %)",
                share >= 0.8,
            )
        )
    else:
        checks.append(("no outcome measured yet (statuses never reached measured)", False))
    zero = measured[measured["type"] == ZERO_EFFECT_TYPE]
    if len(zero):
        share = float(zero["significant"].mean())
        checks.append(
            (
                f"{ZERO_EFFECT_TYPE} (no planted effect) called significant in {share:.0%} of "
                f"{len(zero)} outcomes (target ≤ 10 %)",
                share <= 0.1,
            )
        )
    phases = treated["phase"].dropna()
    checks.append(
        (
            "treated phases by cycle: " + ", ".join(phases.astype(str)),
            bool((phases != "accumulation").any()) if len(phases) else None,
        )
    )
    if len(control):
        phases = control["phase"].dropna()
        checks.append(
            (
                "control phases by cycle: " + ", ".join(phases.astype(str)),
                bool((phases != "self_sustaining").all()),
            )
        )
    return checks
