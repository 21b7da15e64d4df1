"""shift_budget: the candidate (worst → best marginal return) and its measurement (DiD of the
receiving campaign's sessions), on synthetic campaigns and on the demo simulator."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from flywheel_pipeline.recommendations import budget
from flywheel_pipeline.recommendations._ids import IMPACT_UNIT
from flywheel_pipeline.recommendations.budget import (
    measure_budget,
    pair_target,
    parse_pair,
    shift_budget_candidates,
)
from flywheel_pipeline.recommendations.economics import ImpactAssumptions
from flywheel_pipeline.recommendations.first_touch import FrameFirstTouch
from flywheel_pipeline.recommendations.outcomes import OUTCOME_COLUMNS
from flywheel_pipeline.sources.demo import DemoConfig, simulate
from flywheel_pipeline.sources.demo import effects as demo_effects

ASSUME = ImpactAssumptions()
START = pd.Timestamp("2026-03-02")  # a Monday
DONE = pd.Timestamp("2026-07-15")  # a Wednesday: blocks straddle the weekly budget steps
BUDGETS = {"recv": 45.0, "give": 260.0, "c1": 90.0, "c2": 170.0, "c3": 70.0}
ELASTICITY = 0.85


def synthetic_campaigns(
    seed: int,
    *,
    share: float = 0.0,
    budgets: dict[str, float] = BUDGETS,
    days: int = 180,
    done: pd.Timestamp = DONE,
) -> pd.DataFrame:
    """The demo's paid world in small: budgets in weekly (Monday) steps, sessions ∝
    spend^0.85 with Poisson noise; from ``done`` on, ``share`` of recv's spend moves to it
    from give."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(START, periods=days, freq="D")
    week = ((dates - START).days // 7).to_numpy()
    spend = {
        c: b
        * np.exp(rng.normal(0, 0.28, week.max() + 1))[week]
        * np.exp(0.08 * rng.normal(size=days))
        for c, b in budgets.items()
    }
    if "recv" in spend and "give" in spend:
        moved = np.where(dates >= done, share * spend["recv"], 0.0)
        spend["recv"], spend["give"] = spend["recv"] + moved, spend["give"] - moved
    frames = [
        pd.DataFrame(
            {
                "date": dates,
                "campaign": c,
                "spend": np.round(s, 2),
                "sessions": rng.poisson(2.0 * s**ELASTICITY * np.exp(0.06 * rng.normal(size=days))),
            }
        )
        for c, s in spend.items()
    ]
    return pd.concat(frames, ignore_index=True)


def _done(target: str = "give -> recv", day: pd.Timestamp = DONE) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "recommendation_id": ["r1"],
            "type": ["shift_budget"],
            "target_id": [target],
            "done_day": [day],
        }
    )


# --------------------------------------------------------------------------------------------
# the target


def test_the_pair_format_is_the_simulators():
    assert pair_target("a", "b") == "a -> b"
    assert parse_pair("generic_apparel -> brand_search") == ("generic_apparel", "brand_search")
    for bad in ("brand_search", "a -> a", " -> b", "a -> b -> c"):
        assert parse_pair(bad) is None
    assert budget.PAIR_SEPARATOR == demo_effects.BUDGET_PAIR_SEPARATOR
    assert demo_effects.budget_pair(pair_target("x", "y")) == ("x", "y")
    # what the recommendation moves is what the simulator plants
    assert demo_effects.effect("shift_budget", "campaign_spend") == budget.SHIFT_SHARE
    assert budget.MAX_GIVER_SHARE == demo_effects.SHIFT_BUDGET_MAX_GIVER_SHARE
    planted = demo_effects.ACTION_EFFECTS.query("action_type == 'shift_budget'")
    assert set(planted["target_type"]) == {budget.TARGET_TYPE}
    assert budget.METRIC in set(planted["metric"])


# --------------------------------------------------------------------------------------------
# the candidate


def _customers(days: pd.DataFrame, value_per_session: dict[str, float]) -> tuple:
    """One contact per 20 sessions of a campaign, each buying once within 90 days so that a
    session of the campaign is worth ``value_per_session``."""
    contacts, orders = [], []
    per = days.groupby(["date", "campaign"])["sessions"].sum().reset_index()
    for row in per.itertuples(index=False):
        for k in range(int(row.sessions // 20)):
            cid = f"{row.campaign}-{row.date:%Y%m%d}-{k}"
            contacts.append((cid, row.date + pd.Timedelta(hours=10), row.campaign))
            orders.append(
                (cid, row.date + pd.Timedelta(days=5), 20 * value_per_session[row.campaign])
            )
    return (
        pd.DataFrame(contacts, columns=["contact_id", "created_at", "campaign"]),
        pd.DataFrame(orders, columns=["contact_id", "ordered_at", "revenue"]),
    )


VALUES = {"recv": 4.0, "give": 0.5, "c1": 1.0, "c2": 1.0, "c3": 1.0}


def test_moves_budget_from_the_worst_to_the_best_marginal_return():
    days = synthetic_campaigns(1)
    contacts, orders = _customers(days, VALUES)
    through = dt.date(2026, 8, 28)
    rows = shift_budget_candidates(
        days, FrameFirstTouch(contacts, orders), data_through=through, assumptions=ASSUME
    )
    assert len(rows) == 1
    rec = rows[0]
    assert rec["type"] == "shift_budget" and rec["target_type"] == "campaign_pair"
    assert rec["target_id"] == "give -> recv"
    assert rec["impact_unit"] == IMPACT_UNIT and 0 < rec["confidence"] <= 0.8
    # the impact is what the power law says the moved money does on both sides
    d = budget.campaign_frame(days)
    last = pd.Timestamp(through)
    e = budget.spend_elasticity(d, last)
    assert e.estimated and e.value == pytest.approx(ELASTICITY, abs=0.08)
    recent = d[d["day"] > last - pd.Timedelta(days=28)].groupby("campaign")[["spend", "sessions"]]
    recent = recent.sum() / 28
    values, mature = budget.session_values(
        d, FrameFirstTouch(contacts, orders), sorted(BUDGETS), last
    )
    assert mature
    assert values.loc["recv", "value"] > 2 * values.loc["give", "value"]
    r, g = recent.loc["recv"], recent.loc["give"]
    moved = 0.25 * r["spend"]
    gain = r["sessions"] * ((1 + moved / r["spend"]) ** e.value - 1)
    loss = g["sessions"] * (1 - (1 - moved / g["spend"]) ** e.value)
    expected = 90 * (gain * values.loc["recv", "value"] - loss * values.loc["give", "value"])
    assert rec["expected_impact"] == pytest.approx(expected, abs=0.01)
    assert f"Move {moved:,.2f} a day" in rec["action"]
    assert "sessions follow spend^" in rec["rationale"] and "recv" in rec["rationale"]
    # reruns propose the same id
    again = shift_budget_candidates(
        days, FrameFirstTouch(contacts, orders), data_through=through, assumptions=ASSUME
    )
    assert again == rows


def test_no_shift_without_a_large_enough_gap_or_enough_data():
    days = synthetic_campaigns(2)
    through = dt.date(2026, 8, 28)
    flat, orders_flat = _customers(days, dict.fromkeys(BUDGETS, 1.0))
    # equal values a session: the sessions-per-spend gap alone is below MIN_RETURN_RATIO
    assert (
        shift_budget_candidates(
            days, FrameFirstTouch(flat, orders_flat), data_through=through, assumptions=ASSUME
        )
        == []
    )
    contacts, orders = _customers(days, VALUES)
    # the best campaign stopped a week ago: it is not running, so it receives nothing
    stopped = days[
        ~(
            (days["campaign"] == "recv")
            & (days["date"] > pd.Timestamp(through) - pd.Timedelta(days=7))
        )
    ]
    rows = shift_budget_candidates(
        stopped, FrameFirstTouch(contacts, orders), data_through=through, assumptions=ASSUME
    )
    assert all("recv" not in r["target_id"] for r in rows)
    assert (
        shift_budget_candidates(
            days[days["campaign"] == "recv"],
            FrameFirstTouch(contacts, orders),
            data_through=through,
            assumptions=ASSUME,
        )
        == []
    )
    assert (
        shift_budget_candidates(
            None, FrameFirstTouch(contacts, orders), data_through=through, assumptions=ASSUME
        )
        == []
    )
    # without orders every session is worth the same (nothing): nothing to gain
    assert (
        shift_budget_candidates(
            days, FrameFirstTouch(None, None), data_through=through, assumptions=ASSUME
        )
        == []
    )


def test_a_young_history_values_sessions_as_a_lower_bound():
    days = synthetic_campaigns(3, days=70)
    contacts, orders = _customers(days, VALUES)
    through = (START + pd.Timedelta(days=69)).date()
    rows = shift_budget_candidates(
        days, FrameFirstTouch(contacts, orders), data_through=through, assumptions=ASSUME
    )
    assert [r["target_id"] for r in rows] == ["give -> recv"]
    assert "lower bounds" in rows[0]["rationale"]


# --------------------------------------------------------------------------------------------
# the measurement


def test_an_outcome_row_has_the_contract_keys_and_reads_only_its_windows():
    days = synthetic_campaigns(4, share=0.25)
    rows = measure_budget(_done(), {"give -> recv"}, days, n_resamples=300)
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == OUTCOME_COLUMNS
    assert row["metric"] == "campaign_sessions" and row["higher_is_better"]
    assert row["n"] == 1 + 3  # receiver + c1, c2, c3 (the giver is touched)
    assert row["measured_at"] == DONE + pd.Timedelta(days=27)
    recv = days[days["campaign"] == "recv"].set_index("date")["sessions"]
    before = recv[(recv.index >= DONE - pd.Timedelta(days=28)) & (recv.index < DONE)].mean()
    after = recv[(recv.index >= DONE) & (recv.index < DONE + pd.Timedelta(days=28))].mean()
    assert row["baseline_value"] == pytest.approx(before)
    assert row["observed_value"] == pytest.approx(after)
    assert row["ci_low"] < row["estimated_lift"] < row["ci_high"]
    # the same inputs give the same interval (seeded by the recommendation)
    assert measure_budget(_done(), {"give -> recv"}, days, n_resamples=300) == rows
    # a window after that has not ended, or a window before outside the data: no row
    cut = days[days["date"] < DONE + pd.Timedelta(days=20)]
    assert measure_budget(_done(), {"give -> recv"}, cut, n_resamples=300) == []
    early = _done(day=START + pd.Timedelta(days=20))
    assert measure_budget(early, {"give -> recv"}, days, n_resamples=300) == []
    # campaigns of other acted pairs are no controls; too few controls, no row
    two_left = {"give -> recv", "c1 -> c2"}
    assert measure_budget(_done(), two_left, days, n_resamples=300) == []
    assert measure_budget(_done("recv"), {"recv"}, days, n_resamples=300) == []  # not a pair


def test_a_stopped_campaign_is_no_control():
    days = synthetic_campaigns(5)
    stops = (days["campaign"] == "c3") & (days["date"] >= DONE + pd.Timedelta(days=10))
    days = days[~stops]
    row = measure_budget(_done(), {"give -> recv"}, days, n_resamples=300)[0]
    assert row["n"] == 1 + 2


@pytest.mark.parametrize(
    ("budgets", "share"),
    [
        (BUDGETS, 0.25),
        (BUDGETS, 0.0),
        ({k: BUDGETS[k] for k in ("recv", "give", "c1", "c2")}, 0.25),
        ({k: BUDGETS[k] for k in ("recv", "give", "c1", "c2")}, 0.0),
    ],
    ids=["3 controls, effect", "3 controls, none", "2 controls, effect", "2 controls, none"],
)
def test_intervals_cover_the_true_lift_across_seeds(budgets, share):
    """Weekly budget steps make paid traffic drift: 60 seeds, the 95 % interval must cover the
    true lift ≥ 88 % of the time, and a null effect be called significant ≤ 10 %."""
    truth = (1 + share) ** ELASTICITY - 1
    n, covered, significant = 60, 0, 0
    for seed in range(n):
        days = synthetic_campaigns(100 + seed, share=share, budgets=budgets)
        (row,) = measure_budget(_done(), {"give -> recv"}, days, n_resamples=400)
        covered += row["ci_low"] <= truth <= row["ci_high"]
        significant += row["ci_low"] > 0 or row["ci_high"] < 0
    assert covered >= 0.88 * n, covered
    if share == 0.0:
        assert significant <= 0.10 * n, significant


def test_block_autocorrelation_sees_the_weekly_budget_steps():
    """Blocks aligned with a Wednesday straddle Monday budget steps: adjacent blocks share a
    budget level, ρ ≈ 0.34 (5/7 and 2/7 of a week)."""
    rhos = []
    for seed in range(40):
        d = budget.campaign_frame(synthetic_campaigns(seed))
        units = d.rename(columns={"campaign": "unit", "sessions": "num"})
        rhos.append(budget.block_autocorrelation(units, ["recv", "c1", "c2"], DONE))
    assert 0.2 < np.mean(rhos) < 0.5


# --------------------------------------------------------------------------------------------
# the demo: recommend, apply, measure


def _campaign_days(biz) -> pd.DataFrame:
    spend = biz.crm["ad_spend"].groupby(["date", "campaign"], as_index=False)["spend"].sum()
    ga = biz.ga4["traffic_acquisition"].rename(columns={"session_campaign_name": "campaign"})
    ga = ga[ga["campaign"].isin(set(spend["campaign"]))]
    sessions = ga.groupby(["date", "campaign"], as_index=False)["sessions"].sum()
    both = spend.merge(sessions, on=["date", "campaign"], how="outer")
    return both.fillna({"spend": 0.0, "sessions": 0})


def _contacts_orders(biz) -> tuple[pd.DataFrame, pd.DataFrame]:
    contacts = biz.crm["contacts"][["contact_id", "created_at", "campaign"]]
    return contacts, biz.crm["orders"][["contact_id", "ordered_at", "revenue"]]


def test_the_demo_loop_recommends_a_pair_the_simulator_applies_and_measures_its_lift():
    config = DemoConfig(seed=11, scale=0.5, days=150, end_date=dt.date(2026, 7, 20))
    control = simulate(config)
    rows = shift_budget_candidates(
        _campaign_days(control),
        FrameFirstTouch(*_contacts_orders(control)),
        data_through=config.end_date,
        assumptions=ASSUME,
    )
    assert len(rows) == 1
    target = rows[0]["target_id"]
    giver, receiver = parse_pair(target)
    # the business goes on for 28 days, with and without the recommended move
    later = config.advanced(28)
    applied = config.end_date + dt.timedelta(days=1)
    treated = simulate(later.with_actions(("shift_budget", target, applied)))
    untreated = simulate(later)
    spend = [b.crm["ad_spend"].groupby("campaign")["spend"].sum() for b in (untreated, treated)]
    assert spend[1][receiver] > spend[0][receiver] and spend[1][giver] < spend[0][giver]
    assert spend[1].sum() == pytest.approx(spend[0].sum(), abs=1.0)
    done = _done(target, pd.Timestamp(applied))
    measured = {
        name: measure_budget(done, {target}, _campaign_days(b), n_resamples=500)
        for name, b in (("treated", treated), ("control", untreated))
    }
    assert all(len(m) == 1 for m in measured.values())
    planted = demo_effects.effect("shift_budget", "campaign_sessions")
    t, c = measured["treated"][0], measured["control"][0]
    # common random numbers: the two runs differ by the planted effect alone
    assert (1 + t["estimated_lift"]) / (1 + c["estimated_lift"]) - 1 == pytest.approx(
        planted, abs=0.03
    )
    assert t["ci_low"] <= planted <= t["ci_high"]
    assert c["ci_low"] <= 0.0 <= c["ci_high"]
