"""``shift_budget``: move ad budget from the paid campaign with the worst marginal return to
the one with the best, and measure what the move did to the receiving campaign's sessions.

Target: ``target_type`` ``"campaign_pair"``, ``target_id`` ``"<giving campaign> -> <receiving
campaign>"`` (:func:`pair_target` / :func:`parse_pair`; campaign names as in the ad-spend
``campaign`` column, which are also GA4's session campaign names). The demo simulator reads the
same format (``sources.demo.effects.budget_pair``). The action: every day, move
``SHIFT_SHARE`` of the receiver's current daily spend from the giver to the receiver (at most
``MAX_GIVER_SHARE`` of the giver's); total spend is unchanged.

**Recommendation** (:func:`shift_budget_candidates`). Input: ``campaign_days`` (date,
campaign, spend, sessions: ad spend and GA4 sessions per campaign and day; a campaign is
*paid* if it has spend), ``contacts`` (contact_id, created_at, campaign) and ``orders``
(contact_id, ordered_at, revenue).

- Operating point: each paid campaign's spend and sessions a day over the ``WINDOW_DAYS``
  days ending ``data_through``. A campaign is eligible when it spent on at least
  ``MIN_ACTIVE_DAYS`` of them and on at least ``MIN_RECENT_DAYS`` of the last 7 (it is
  running now), and had at least ``MIN_SESSIONS`` sessions.
- Value of a session (first touch): revenue in the first 90 days of the contacts the
  campaign brought ÷ the campaign's sessions over the same days, shrunk towards the value of
  a session of all paid campaigns together with a prior worth ``PRIOR_SESSIONS`` sessions.
  Only days at least 90 days before ``data_through`` count (the contacts have had their full
  90 days) — unless there are none, when every day counts with what its contacts spent so
  far (a lower bound, said so in the rationale).
- Response of sessions to spend: sessions ∝ spend^e. ``e`` is the pooled within-campaign
  slope of log weekly sessions on log weekly spend (7-day blocks ending ``data_through``,
  last ``ELASTICITY_WEEKS`` weeks, campaign means removed), clipped to
  ``ELASTICITY_BOUNDS``; with fewer than ``MIN_ELASTICITY_WEEKS`` campaign-weeks, or a spend
  that barely varied, the assumption ``DEFAULT_ELASTICITY`` serves (said so). Spend that moves
  with demand (a budget raised in a busy season) biases ``e`` upwards; nothing here detects it.
- Marginal return of a campaign = ``e`` × sessions per unit of spend × value of a session
  (revenue from one more unit of spend). The receiver has the highest, the giver the lowest;
  a pair is proposed only when the receiver's marginal return is at least
  ``MIN_RETURN_RATIO`` times the giver's. One pair per run (two moves sharing a campaign
  could not be measured apart).
- Expected impact over ``assumptions.horizon_days``: (the receiver's extra sessions × its
  value − the giver's lost sessions × its value) a day × horizon, the sessions from the
  power law at the moved amount. Nothing is proposed when it is not positive.
- Confidence: ``0.8 · n / (n + 20)`` with ``n`` the fewer of the two campaigns' paying
  customers behind the session values, × 0.7 when the elasticity is the assumption.

**Measurement** (:func:`measure_budget`), metric ``campaign_sessions`` (higher is better):
difference in differences of the receiving campaign's sessions in the ``WINDOW_DAYS`` days
from the done day vs the ``WINDOW_DAYS`` days before, against the pooled untouched paid
campaigns (spend on at least ``MIN_ACTIVE_DAYS`` days of each window — a campaign that
starts or stops inside them is no comparison — and in no accepted or done pair, as giver or
receiver; the receiver must be running in both windows too), with :func:`._lift.did_lift` and
:func:`._lift.between_target_variance` as ``outcomes._did_outcome`` uses them, but on 7-day
blocks, not days: paid traffic follows budgets that move in weekly steps, so the days of a
week are not independent and a day bootstrap would be far too narrow. With only
``WINDOW_DAYS / 7`` blocks a window the interval is widened by ``SMALL_SAMPLE_FACTOR``
(Student's t with the blocks' degrees of freedom over the normal quantile, × √(n/(n−1)) for
the bootstrap's plug-in variance). Blocks aligned with the done day straddle budget steps, so
adjacent blocks are correlated: where the placebos cannot measure that drift (fewer than 3
controls, ``between_target_variance`` = 0) the interval is also widened by
√(1 + 2ρ(n−1)/n), ρ the blocks' lag-1 autocorrelation before the done day
(:func:`block_autocorrelation`). On synthetic campaigns with the demo's budget process (60
seeds, +20.9 % or no effect, 2 or 3 controls) the intervals covered the true lift 93–100 % of
the time and called a null effect significant at most 10 %; on the demo simulator (30 seeds,
2 controls) 87 %, with 13 % false alarms. ``baseline_value`` / ``observed_value``: the
receiver's sessions a day before / after. A recommendation whose window after has not ended
in the data, whose window before starts before it, or with fewer than ``MIN_CONTROLS``
controls has no row (the demo has five paid campaigns, one of them seasonal: a pair leaves
two or three).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import stats

from flywheel_pipeline.insights._common import as_date, end_of_day
from flywheel_pipeline.recommendations._ids import candidate, money
from flywheel_pipeline.recommendations._lift import (
    CONFIDENCE,
    N_RESAMPLES,
    Estimate,
    between_target_variance,
    did_lift,
)
from flywheel_pipeline.recommendations._windows import (
    WINDOW_DAYS,
    control_panels,
    did_panels,
    measurable,
    seed_of,
    window_rows,
)
from flywheel_pipeline.recommendations.economics import ImpactAssumptions
from flywheel_pipeline.recommendations.first_touch import VALUE_DAYS, FirstTouch

REC_TYPE = "shift_budget"
TARGET_TYPE = "campaign_pair"
PAIR_SEPARATOR = " -> "
METRIC = "campaign_sessions"

SHIFT_SHARE = 0.25
MAX_GIVER_SHARE = 0.5
MIN_ACTIVE_DAYS = 21
MIN_RECENT_DAYS = 6
MIN_SESSIONS = 100
MIN_RETURN_RATIO = 1.5
PRIOR_SESSIONS = 2_000.0
DEFAULT_ELASTICITY = 0.8
ELASTICITY_BOUNDS = (0.2, 1.0)
ELASTICITY_WEEKS = 26
MIN_ELASTICITY_WEEKS = 12
MIN_CONTROLS = 2
MAX_RHO = 0.8
MIN_RHO_PAIRS = 6
MIN_RHO_BLOCKS = 5
BLOCK_DAYS = 7
_BLOCKS = WINDOW_DAYS // BLOCK_DAYS
SMALL_SAMPLE_FACTOR = (
    stats.t.ppf(0.5 + CONFIDENCE / 2, 2 * _BLOCKS - 2)
    / stats.norm.ppf(0.5 + CONFIDENCE / 2)
    * math.sqrt(_BLOCKS / (_BLOCKS - 1))
)
METHOD = (
    f"difference in differences: the receiving campaign's sessions in the {WINDOW_DAYS} days "
    f"from done_at vs the {WINDOW_DAYS} days before, against the untouched paid campaigns; "
    f"95 % interval: bootstrap over {BLOCK_DAYS}-day blocks, small-sample widened, and widened "
    f"by the drift among untouched campaigns"
)


def pair_target(giver: str, receiver: str) -> str:
    return f"{giver}{PAIR_SEPARATOR}{receiver}"


def parse_pair(target_id: object) -> tuple[str, str] | None:
    """``"<giver> -> <receiver>"`` → ``(giver, receiver)``; ``None`` when malformed."""
    parts = [p.strip() for p in str(target_id).split(PAIR_SEPARATOR)]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        return None
    return parts[0], parts[1]


def campaign_frame(campaign_days: pd.DataFrame) -> pd.DataFrame:
    """date, campaign, spend, sessions (any grain finer than date × campaign) → one row per
    day × campaign with ``day`` (midnight), spend and sessions (zeros where missing)."""
    c = campaign_days.assign(
        day=pd.to_datetime(campaign_days["date"]).dt.normalize(),
        campaign=campaign_days["campaign"].astype(str),
        spend=pd.to_numeric(campaign_days["spend"]).fillna(0.0),
        sessions=pd.to_numeric(campaign_days["sessions"]).fillna(0.0),
    )
    return c.groupby(["day", "campaign"], as_index=False)[["spend", "sessions"]].sum()


# --- recommendation ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Elasticity:
    value: float
    estimated: bool
    weeks: int

    def describe(self) -> str:
        if self.estimated:
            return (
                f"sessions follow spend^{self.value:.2f} (within-campaign fit over "
                f"{self.weeks} campaign-weeks)"
            )
        return (
            f"sessions assumed to follow spend^{self.value:.2f} (too little spend variation "
            f"to fit: {self.weeks} campaign-weeks)"
        )


def spend_elasticity(daily: pd.DataFrame, last: pd.Timestamp) -> _Elasticity:
    """Pooled within-campaign slope of log weekly sessions on log weekly spend (module
    docstring); ``daily`` as from :func:`campaign_frame`."""
    start = last - pd.Timedelta(days=BLOCK_DAYS * ELASTICITY_WEEKS - 1)
    d = daily[(daily["day"] >= start) & (daily["day"] <= last)]
    d = d.assign(week=((last - d["day"]).dt.days // BLOCK_DAYS))
    weekly = d.groupby(["campaign", "week"])[["spend", "sessions"]].sum()
    counts = d[d["spend"] > 0].groupby(["campaign", "week"]).size()
    weekly = weekly[(counts.reindex(weekly.index, fill_value=0) == BLOCK_DAYS).to_numpy()]
    weekly = weekly[(weekly["spend"] > 0) & (weekly["sessions"] > 0)]
    logs = np.log(weekly)
    centred = logs - logs.groupby(level="campaign").transform("mean")
    n = len(weekly)
    sxx = float((centred["spend"] ** 2).sum())
    if n < MIN_ELASTICITY_WEEKS or sxx < 1e-3 * n:
        return _Elasticity(DEFAULT_ELASTICITY, False, n)
    slope = float((centred["spend"] * centred["sessions"]).sum() / sxx)
    return _Elasticity(float(np.clip(slope, *ELASTICITY_BOUNDS)), True, n)


def session_values(
    daily: pd.DataFrame, touch: FirstTouch, campaigns: list[str], last: pd.Timestamp
) -> tuple[pd.DataFrame, bool]:
    """Per paid campaign: sessions, revenue and customers behind its first-touch value of a
    session, and ``value`` (shrunk); and whether the contacts had their full VALUE_DAYS."""
    stop = last + pd.Timedelta(days=1)
    cut = stop - pd.Timedelta(days=VALUE_DAYS)
    paid = daily[daily["campaign"].isin(campaigns)]
    mature = bool(paid.loc[paid["day"] < cut, "sessions"].sum() > 0)
    until = cut if mature else stop
    paid = paid[paid["day"] < until]
    sessions = paid.groupby("campaign")["sessions"].sum().reindex(campaigns, fill_value=0.0)
    start = paid["day"].min() if len(paid) else stop
    brought = touch.revenue("campaign", start, until, stop).dropna(subset=["value"])
    brought = brought.groupby(brought["value"].astype(str))[["revenue", "customers"]].sum()
    revenue = brought["revenue"].reindex(campaigns, fill_value=0.0).astype(float)
    customers = brought["customers"].reindex(campaigns, fill_value=0).astype(int)
    total = float(sessions.sum())
    prior = float(revenue.sum()) / total if total > 0 else 0.0
    frame = pd.DataFrame({"sessions": sessions, "revenue": revenue, "customers": customers})
    frame["value"] = (frame["revenue"] + prior * PRIOR_SESSIONS) / (
        frame["sessions"] + PRIOR_SESSIONS
    )
    frame.attrs["paid_value"] = prior
    return frame, mature


def _sessions_at(base: float, spend: float, new_spend: float, e: float) -> float:
    return base * ((max(new_spend, 0.0) / spend) ** e) if spend > 0 else 0.0


def shift_budget_candidates(
    campaign_days: pd.DataFrame | None,
    touch: FirstTouch,
    *,
    data_through: object,
    assumptions: ImpactAssumptions,
) -> list[dict]:
    """At most one ``shift_budget`` candidate (module docstring). ``campaign_days``: date,
    campaign, spend, sessions; ``touch``: the contacts' first-touch revenue by campaign."""
    if campaign_days is None or campaign_days.empty:
        return []
    daily = campaign_frame(campaign_days)
    last = end_of_day(as_date(data_through)) - pd.Timedelta(days=1)
    daily = daily[daily["day"] <= last]
    campaigns = sorted(daily.loc[daily["spend"] > 0, "campaign"].unique())
    if len(campaigns) < 2:
        return []
    recent = daily[daily["day"] > last - pd.Timedelta(days=WINDOW_DAYS)]
    recent = recent[recent["campaign"].isin(campaigns)]
    now = recent.groupby("campaign").agg(
        spend=("spend", "sum"),
        sessions=("sessions", "sum"),
        active=("spend", lambda s: int((s > 0).sum())),
    )
    last_week = recent[recent["day"] > last - pd.Timedelta(days=7)]
    now["active_recent"] = last_week[last_week["spend"] > 0].groupby("campaign").size()
    now = now.fillna({"active_recent": 0})
    eligible = now[
        (now["active"] >= MIN_ACTIVE_DAYS)
        & (now["active_recent"] >= MIN_RECENT_DAYS)
        & (now["sessions"] >= MIN_SESSIONS)
        & (now["spend"] > 0)
    ].copy()
    if len(eligible) < 2:
        return []
    values, mature = session_values(daily, touch, campaigns, last)
    elasticity = spend_elasticity(daily[daily["campaign"].isin(campaigns)], last)
    e = elasticity.value
    eligible["spend_day"] = eligible["spend"] / WINDOW_DAYS
    eligible["sessions_day"] = eligible["sessions"] / WINDOW_DAYS
    eligible["value"] = values["value"].reindex(eligible.index)
    eligible["marginal"] = e * eligible["sessions"] / eligible["spend"] * eligible["value"]
    ranked = eligible.sort_values(["marginal"], kind="stable")
    giver, receiver = ranked.index[0], ranked.index[-1]
    g, r = ranked.loc[giver], ranked.loc[receiver]
    if r["marginal"] <= 0 or r["marginal"] < MIN_RETURN_RATIO * g["marginal"]:
        return []
    moved = min(SHIFT_SHARE * r["spend_day"], MAX_GIVER_SHARE * g["spend_day"])
    gain = _sessions_at(r["sessions_day"], r["spend_day"], r["spend_day"] + moved, e)
    gain -= r["sessions_day"]
    loss = g["sessions_day"] - _sessions_at(
        g["sessions_day"], g["spend_day"], g["spend_day"] - moved, e
    )
    horizon = assumptions.horizon_days
    impact = horizon * (gain * r["value"] - loss * g["value"])
    if impact <= 0:
        return []
    n = int(min(values.loc[receiver, "customers"], values.loc[giver, "customers"]))
    confidence = 0.8 * n / (n + 20) * (1.0 if elasticity.estimated else 0.7)
    lower = (
        ""
        if mature
        else (
            f"; contacts younger than {VALUE_DAYS} days count what they spent so far, so the "
            f"values are lower bounds"
        )
    )

    def describe(name: str, row: pd.Series) -> str:
        v = values.loc[name]
        return (
            f"{name}: {money(row['spend'])} spent and {row['sessions']:,.0f} sessions in the "
            f"last {WINDOW_DAYS} days ({row['sessions'] / row['spend']:.2f} sessions per unit "
            f"of spend); a session is worth {money(row['value'])} (first-touch revenue within "
            f"{VALUE_DAYS} days of its {int(v['customers']):,} paying customers over "
            f"{v['sessions']:,.0f} sessions, shrunk towards the paid-wide "
            f"{money(values.attrs['paid_value'])}); marginal return {row['marginal']:.2f} per "
            f"unit of spend"
        )

    return [
        candidate(
            rec_type=REC_TYPE,
            target_type=TARGET_TYPE,
            target_id=pair_target(giver, receiver),
            data_through=data_through,
            action=(
                f"Move {money(moved)} a day of ad budget from campaign {giver} to campaign "
                f"{receiver} ({moved / r['spend_day']:.0%} of {receiver}'s current daily "
                f"spend; total spend unchanged)."
            ),
            rationale=(
                f"{describe(receiver, r)}. {describe(giver, g)}. {elasticity.describe()}; "
                f"one more unit of spend returns {r['marginal'] / g['marginal']:.1f}× as much "
                f"on {receiver} as on {giver}{lower}. Moving {money(moved)} a day: "
                f"+{gain:,.1f} sessions a day on {receiver} × {money(r['value'])} − "
                f"{loss:,.1f} on {giver} × {money(g['value'])}, over {horizon} days = "
                f"{money(impact)}."
            ),
            expected_impact=impact,
            confidence=confidence,
        )
    ]


# --- measurement ---------------------------------------------------------------------------


def _blocks(panel: np.ndarray) -> np.ndarray:
    """Days (a multiple of BLOCK_DAYS) × … → 7-day blocks × … (sums)."""
    return panel.reshape(-1, BLOCK_DAYS, *panel.shape[1:]).sum(axis=1)


def _widen(est: Estimate, factor: float) -> Estimate:
    low, high = np.log1p(est.ci_low), np.log1p(est.ci_high)
    centre, half = (low + high) / 2, (high - low) / 2
    return dataclasses.replace(
        est,
        ci_low=float(np.expm1(centre - factor * half)),
        ci_high=float(np.expm1(centre + factor * half)),
    )


def block_autocorrelation(units: pd.DataFrame, campaigns: list[str], done: pd.Timestamp) -> float:
    """Pooled lag-1 autocorrelation of the campaigns' log sessions in 7-day blocks (aligned
    with the windows, every full block before ``done``, each campaign's mean removed, corrected
    for the small-sample bias of the estimate), clipped to 0…``MAX_RHO``; 0 with fewer than
    ``MIN_RHO_BLOCKS`` blocks or ``MIN_RHO_PAIRS`` pairs of adjacent blocks."""
    rows = units[units["unit"].isin(campaigns) & (units["day"] < done)]
    block = (done - rows["day"]).dt.days.sub(1) // BLOCK_DAYS
    full = rows.groupby(block)["day"].nunique()
    first_block = full.index[full.to_numpy() >= BLOCK_DAYS]
    rows = rows[block.isin(first_block)].assign(block=block)
    weekly = rows.pivot_table(index="block", columns="unit", values="num", aggfunc="sum")
    weekly = weekly.sort_index().reindex(columns=campaigns)
    x = np.log(weekly.fillna(0.0).to_numpy() + 0.5)
    x = x - x.mean(axis=0, keepdims=True)
    if len(x) < MIN_RHO_BLOCKS or x.shape[1] * (len(x) - 1) < MIN_RHO_PAIRS:
        return 0.0
    den = float((x**2).sum())
    if den <= 0:
        return 0.0
    # the plain estimate is biased towards −(1 + 3ρ)/n on a short, demeaned series: corrected
    n = len(x)
    rho = (n * float((x[1:] * x[:-1]).sum() / den) + 1) / (n - 3)
    return float(np.clip(rho, 0.0, MAX_RHO))


def _running(window: pd.DataFrame) -> set[str]:
    """Campaigns that spent on at least MIN_ACTIVE_DAYS days of each window: one that starts
    or stops inside them changed its traffic for that reason, and is no control."""
    spent = window[window["spend"] > 0]
    days = spent.groupby(["unit", "after"])["day"].nunique().unstack(fill_value=0)
    days = days.reindex(columns=[False, True], fill_value=0)
    return set(days.index[(days >= MIN_ACTIVE_DAYS).all(axis=1)])


def acted_campaigns(acted: set[str]) -> set[str]:
    """Both campaigns of every acted pair (a target_id that is no pair names one campaign)."""
    out: set[str] = set()
    for target in acted:
        pair = parse_pair(target)
        out |= set(pair) if pair else {str(target).strip()}
    return out


def measure_budget(
    done: pd.DataFrame,
    acted: set[str],
    campaign_days: pd.DataFrame | None,
    *,
    n_resamples: int = N_RESAMPLES,
) -> list[dict]:
    """``campaign_sessions`` outcomes of done ``shift_budget`` recommendations (module
    docstring), rows with the keys of ``_lift.OUTCOME_COLUMNS``.

    ``done``: recommendation_id, type, target_id, done_day (UTC midnight), as from
    ``outcomes.done_recommendations``; ``acted``: target_ids (pairs) of every ``shift_budget``
    recommendation accepted or done, whenever; ``campaign_days``: date, campaign, spend,
    sessions.
    """
    if done is None or done.empty or campaign_days is None or campaign_days.empty:
        return []
    daily = campaign_frame(campaign_days)
    first, last = daily["day"].min(), daily["day"].max()
    units = daily.rename(columns={"campaign": "unit", "sessions": "num"}).assign(den=1.0)
    excluded = acted_campaigns(acted)
    rows = []
    for rec in done.itertuples(index=False):
        pair = parse_pair(rec.target_id)
        if pair is None or not measurable(rec.done_day, WINDOW_DAYS, first, last):
            continue
        giver, receiver = pair
        window = window_rows(units, rec.done_day)
        running = _running(window)
        controls = running - excluded - {giver, receiver}
        if len(controls) < MIN_CONTROLS or receiver not in running:
            continue
        before, after = did_panels(window, receiver, controls, rec.done_day, counts=True)
        b, a = before.sum(axis=0), after.sum(axis=0)
        if b[0] <= 0 or b[2] <= 0 or a[2] <= 0:
            continue
        control_before, control_after = control_panels(window, controls, rec.done_day, counts=True)
        between_var = between_target_variance(
            _blocks(control_before),
            _blocks(control_after),
            seed=seed_of(rec.recommendation_id, "placebo"),
        )
        est = did_lift(
            _blocks(before),
            _blocks(after),
            seed=seed_of(rec.recommendation_id, REC_TYPE),
            between_var=between_var,
            n_resamples=n_resamples,
        )
        factor = SMALL_SAMPLE_FACTOR
        if between_var == 0.0:  # too few controls for placebos: correct for adjacent blocks
            rho = block_autocorrelation(units, [receiver, *sorted(controls)], rec.done_day)
            factor *= math.sqrt(1 + 2 * rho * (_BLOCKS - 1) / _BLOCKS)
        est = _widen(est, factor)
        rows.append(
            est.outcome_row(
                rec.recommendation_id,
                metric=METRIC,
                higher_is_better=True,
                method=METHOD,
                n=1 + len(controls),
                measured_at=rec.done_day + pd.Timedelta(days=WINDOW_DAYS - 1),
            )
        )
    return rows
