"""List recommendations: folding per-member rows into one list per type, the seeded holdout
recorded with the members, earlier acted members left out, and the randomised estimator on
simulated lists with a known effect (coverage over many experiments, not one lucky seed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel_pipeline.recommendations._ids import candidate
from flywheel_pipeline.recommendations._randomised import randomised_lift
from flywheel_pipeline.recommendations.candidates import build_recommendations
from flywheel_pipeline.recommendations.lists import (
    LIST_TYPES,
    TARGET_COLUMNS,
    acted_members,
    fold_lists,
    holdout_mask,
    holdout_size,
    one_list_per_person,
    targets_with_decided_history,
)
from flywheel_pipeline.recommendations.outcomes import HORIZON_DAYS, _list_row, measure_outcomes
from flywheel_pipeline.settings import SettingsError, load_settings

DAY = pd.Timestamp("2026-06-30").date()


def _members(rec_type: str, n: int, target_type: str = "contact") -> list[dict]:
    return [
        candidate(
            rec_type=rec_type,
            target_type=target_type,
            target_id=f"{rec_type[0]}{i:03d}",
            data_through=DAY,
            action=f"act on {i}",
            rationale=f"reason {i}",
            expected_impact=100.0 - i,
            confidence=0.4,
            score=0.5 - i / 1000,
        )
        for i in range(n)
    ]


def test_holdout_is_seeded_exact_and_reproducible():
    assert [holdout_size(n, 0.2) for n in (0, 1, 2, 4, 5, 20, 60, 61)] == [0, 0, 1, 1, 1, 4, 12, 12]
    assert holdout_size(60, 0.0) == 0 and holdout_size(3, 0.9) == 2  # someone is treated
    with pytest.raises(ValueError):
        holdout_size(10, 1.0)
    a = holdout_mask("rec_a", 60, 0.2)
    assert a.sum() == 12 and (a == holdout_mask("rec_a", 60, 0.2)).all()
    assert not (a == holdout_mask("rec_b", 60, 0.2)).all()  # another list, another draw
    # not just the top or the bottom of the list
    assert 0 < np.flatnonzero(a).mean() / 59 < 1 and a[:30].any() and a[30:].any()


def test_per_member_rows_fold_into_one_list_per_type():
    rows = [
        *_members("follow_up_lead", 60),
        *_members("attend_deal", 20, "deal"),
        candidate(
            rec_type="rewrite_title",
            target_type="query",
            target_id="q",
            data_through=DAY,
            action="a",
            rationale="r",
            expected_impact=5,
            confidence=0.5,
        ),
    ]
    kept, targets = fold_lists(rows, data_through=DAY, holdout_share=0.2)
    assert list(targets.columns) == TARGET_COLUMNS
    by_type = {r["type"]: r for r in kept}
    assert set(by_type) == {"follow_up_lead", "attend_deal", "rewrite_title"}
    leads, deals = by_type["follow_up_lead"], by_type["attend_deal"]
    assert (leads["target_type"], leads["target_id"]) == (
        "contact_list",
        "follow_up_lead:2026-06-30",
    )
    assert (deals["target_type"], deals["target_id"]) == ("deal_list", "attend_deal:2026-06-30")
    members = targets[targets["recommendation_id"] == leads["recommendation_id"]]
    assert len(members) == 60 and members["holdout"].sum() == 12
    assert members["position"].tolist() == list(range(1, 61))
    assert members["expected_impact"].is_monotonic_decreasing
    assert members["reason"].iloc[0] == "reason 0" and members["score"].iloc[0] == 0.5
    assert set(members["target_type"]) == {"contact"}
    held = holdout_mask(leads["recommendation_id"], 60, 0.2)
    assert (members["holdout"].to_numpy() == held).all()  # recorded as drawn
    treated = members.loc[~members["holdout"], "expected_impact"].sum()
    assert leads["expected_impact"] == pytest.approx(treated, abs=0.01)
    assert "48 leads" in leads["action"] and "12 of the 60 (20%)" in leads["rationale"]
    assert "#1 f000: reason 0" in leads["rationale"]
    deal_members = targets[targets["recommendation_id"] == deals["recommendation_id"]]
    assert deal_members["holdout"].sum() == 4 and set(deal_members["target_type"]) == {"deal"}
    # a rerun reproduces the lists, holdout included
    again_kept, again = fold_lists(rows, data_through=DAY, holdout_share=0.2)
    pd.testing.assert_frame_equal(targets, again)
    assert again_kept == kept
    # no holdout asked for: none drawn, the impact is the whole list's
    kept0, none = fold_lists(rows, data_through=DAY, holdout_share=0.0)
    assert not none["holdout"].any()
    assert "cannot be measured" in next(r for r in kept0 if r["type"] == "attend_deal")["rationale"]


def test_members_of_acted_lists_are_not_listed_again():
    targets = pd.DataFrame(
        {
            "recommendation_id": ["done", "done", "done", "proposed", "deals"],
            "target_type": ["contact", "contact", "contact", "contact", "deal"],
            "target_id": ["L1", "L2", "K1", "L3", "D1"],
            "holdout": [False, True, False, False, True],
        }
    )
    decisions = pd.DataFrame(
        {
            "recommendation_id": ["done", "proposed", "deals"],
            "status": ["done", "rejected", "accepted"],
            "accepted_at": [pd.Timestamp(DAY), pd.NaT, pd.Timestamp(DAY)],
            "done_at": [pd.Timestamp(DAY), pd.NaT, pd.NaT],
        }
    )
    deals = pd.DataFrame({"deal_id": ["D1", "D2", "D3"], "contact_id": ["C1", "L1", "C3"]})
    acted = acted_members(targets, decisions, deals)
    # the holdout member L2 too; the rejected list's L3 is free; D1's contact C1 is acted,
    # and so is D2, the deal of the followed-up lead L1
    assert acted == {"contact": {"L1", "L2", "K1", "C1"}, "deal": {"D1", "D2"}}
    leads = pd.DataFrame(
        {
            "contact_id": ["L1", "L2", "L3", "C1", "L4"],
            "lead_score": [0.5, 0.4, 0.3, 0.2, 0.1],
        }
    )
    value = pd.DataFrame(
        {
            "contact_id": ["K1", "K2"],
            "predicted_orders_90d": [1.0, 1.0],
            "predicted_clv_365d": [100.0, 100.0],
            "p_alive": [0.3, 0.3],
        }
    )
    orders = pd.DataFrame(
        {"contact_id": ["K1", "K2"], "ordered_at": [pd.Timestamp(DAY)] * 2, "revenue": [50.0, 50.0]}
    )
    built = build_recommendations(
        data_through=DAY, lead_scores=leads, customer_value=value, orders=orders, acted=acted
    )
    listed = built.targets.merge(built.candidates[["recommendation_id", "type"]])
    assert sorted(listed.loc[listed["type"] == "follow_up_lead", "target_id"]) == ["L3", "L4"]
    assert listed.loc[listed["type"] == "reengage_customer", "target_id"].tolist() == ["K2"]


def test_decided_lists_keep_their_members_as_drawn():
    old = pd.DataFrame(
        {
            "recommendation_id": ["r1", "r1", "r2"],
            "target_type": "contact",
            "target_id": ["A", "B", "C"],
            "position": [1, 2, 1],
            "reason": "why",
            "expected_impact": 1.0,
            "score": 0.3,
            "holdout": [True, False, False],
        }
    )
    fresh = old.iloc[[0, 1]].assign(holdout=[False, True])  # r1 proposed again, drawn anew
    fresh = pd.concat([fresh, old.iloc[[2]].assign(recommendation_id="r3")])
    out = targets_with_decided_history(fresh, old, ["r1"])
    assert out.sort_values(["recommendation_id", "target_id"])["holdout"].tolist() == [
        True,
        False,
        False,
    ]
    assert set(out["recommendation_id"]) == {"r1", "r3"}  # r2 was never decided


def test_holdout_share_setting():
    assert load_settings().flywheel_holdout_share == 0.2
    assert load_settings(flywheel_holdout_share="0.3").flywheel_holdout_share == 0.3
    for bad in ("1", "-0.1", "lots"):
        with pytest.raises(SettingsError, match="FLYWHEEL_HOLDOUT_SHARE"):
            load_settings(flywheel_holdout_share=bad)


# --------------------------------------------------------------------------------------------
# the estimator on simulated lists with a known effect

N_EXPERIMENTS = 400


def _experiments(n: int, effect: float, kind: str, seed: int) -> tuple[float, float]:
    """(coverage of the true lift, share called significant) over N_EXPERIMENTS lists of
    ``n`` members with a 20 % holdout drawn as the lists draw it."""
    rng = np.random.default_rng(seed)
    covered = significant = 0
    for i in range(N_EXPERIMENTS):
        score = rng.uniform(0.05, 0.6, n) if kind == "binary" else rng.gamma(1.0, 0.5, n)
        held = holdout_mask(f"sim-{seed}-{i}", n, 0.2)
        mean = score * np.where(held, 1.0, 1.0 + effect)
        y = rng.random(n) < mean if kind == "binary" else rng.poisson(mean)
        est = randomised_lift(
            (y[~held], score[~held]), (y[held], score[held]), seed=i, n_resamples=1000
        )
        covered += est.ci_low <= effect <= est.ci_high
        significant += est.ci_low > 0 or est.ci_high < 0
    return covered / N_EXPERIMENTS, significant / N_EXPERIMENTS


@pytest.mark.parametrize(
    ("n", "kind", "effect"),
    [
        (60, "binary", 0.5),  # follow_up_lead: 60 leads, conversion × 1.5
        (20, "binary", 0.3),  # attend_deal: 20 deals, won × 1.3
        (60, "count", 0.6),  # reengage_customer: orders × 1.6
        (40, "count", 1.0),  # ask_referral: referrals × 2
    ],
)
def test_randomised_intervals_cover_the_true_lift_and_rarely_flag_a_null(n, kind, effect):
    coverage, _ = _experiments(n, effect, kind, seed=1)
    assert coverage >= 0.90, coverage
    null_coverage, false_alarms = _experiments(n, 0.0, kind, seed=2)
    assert null_coverage >= 0.90 and false_alarms <= 0.10, false_alarms


def test_randomised_lift_arithmetic_and_reruns():
    y_t, e_t = np.r_[np.ones(6), np.zeros(14)], np.full(20, 0.2)
    y_h, e_h = np.r_[np.ones(2), np.zeros(8)], np.full(10, 0.4)
    est = randomised_lift((y_t, e_t), (y_h, e_h), seed=3)
    # holdout: 2 events where 4 were expected (×0.5); treated: 4 expected → 2, observed 6
    assert est.baseline == pytest.approx(0.1) and est.observed == pytest.approx(0.3)
    assert est.control_change == pytest.approx(-0.5) and est.lift == pytest.approx(2.0)
    assert est.ci_low < est.lift < est.ci_high
    assert randomised_lift((y_t, e_t), (y_h, e_h), seed=3) == est
    plain = randomised_lift((y_t, None), (y_h, None), seed=3)  # means: 0.3 vs 0.2
    assert plain.lift == pytest.approx(0.5) and plain.control_change == 0.0


# --------------------------------------------------------------------------------------------
# measuring a done list


def test_a_done_list_is_measured_against_its_holdout_once_its_window_has_ended():
    done = pd.Timestamp("2026-03-02")
    n = 30
    ids = [f"L{i:02d}" for i in range(n)]
    held = holdout_mask("list", n, 0.2)
    targets = pd.DataFrame(
        {
            "recommendation_id": "list",
            "target_type": "contact",
            "target_id": ids,
            "position": range(1, n + 1),
            "reason": "why",
            "expected_impact": 1.0,
            "score": 0.4,
            "holdout": held,
        }
    )
    recs = pd.DataFrame(
        {
            "recommendation_id": ["list"],
            "type": ["follow_up_lead"],
            "target_type": ["contact_list"],
            "target_id": ["follow_up_lead:2026-03-01"],
            "accepted_at": [done],
            "done_at": [done + pd.Timedelta(hours=10)],
        }
    )
    contacts = pd.DataFrame({"contact_id": ids, "created_at": done - pd.Timedelta(days=10)})
    # every other treated lead converts 20 days on; 1 of the 6 held out; one treated lead
    # bought before the done day (not a conversion in the window)
    buyers = [c for c, h in zip(ids, held, strict=True) if not h][::2]
    buyers += [ids[int(np.flatnonzero(held)[0])]]
    orders = pd.DataFrame({"contact_id": buyers, "ordered_at": done + pd.Timedelta(days=20)})
    early = [c for c, h in zip(ids, held, strict=True) if not h][1]
    orders.loc[len(orders)] = [early, done - pd.Timedelta(days=2)]
    window_end = done + pd.Timedelta(days=HORIZON_DAYS - 1)
    last = pd.DataFrame({"contact_id": ["X"], "created_at": [window_end]})
    out = measure_outcomes(
        recs, targets=targets, contacts=pd.concat([contacts, last]), orders=orders, n_resamples=200
    )
    assert len(out) == 1
    row = out.iloc[0]
    assert row["metric"] == "conversion_90d" and row["n"] == n
    assert row["observed_value"] == pytest.approx(12 / 24)
    assert row["baseline_value"] == pytest.approx(1 / 6)
    assert row["estimated_lift"] == pytest.approx(2.0)
    assert row["method"].startswith("randomised holdout")
    assert row["measured_at"] == window_end
    # a day short of the window: not measured yet
    short = pd.concat([contacts, last.assign(created_at=window_end - pd.Timedelta(days=1))])
    assert measure_outcomes(recs, targets=targets, contacts=short, orders=orders).empty


def test_an_action_taken_on_a_target_is_not_proposed_again(monkeypatch):
    candidates = pd.DataFrame(
        {
            "recommendation_id": ["t1", "t2", "c1"],
            "target_type": ["query", "query", "topic"],
            "target_id": ["wool beanie", "rain jacket", "7"],
        }
    )
    decisions = pd.DataFrame(
        {
            "recommendation_id": ["t1", "t2", "c1"],
            "status": ["done", "rejected", "accepted"],
            "accepted_at": [pd.Timestamp(DAY), pd.NaT, pd.Timestamp(DAY)],
            "done_at": [pd.Timestamp(DAY), pd.NaT, pd.NaT],
        }
    )
    acted = acted_members(None, decisions, candidates=candidates)
    assert acted["query"] == {"wool beanie"} and acted["topic"] == {"7"}

    def proposals(*args, **kwargs) -> list[dict]:
        return [
            candidate(
                rec_type="create_content",
                target_type="topic",
                target_id=topic,
                data_through=DAY,
                action="write",
                rationale="why",
                expected_impact=10.0,
                confidence=0.5,
            )
            for topic in ("7", "8")
        ]

    module = "flywheel_pipeline.recommendations.candidates"
    monkeypatch.setattr(f"{module}.content_candidates", proposals)
    monkeypatch.setattr(f"{module}.topic_stats", lambda *args: (None, {}))
    frame = pd.DataFrame({"topic_id": [7]})
    built = build_recommendations(data_through=DAY, topics=frame, topic_counts=frame, acted=acted)
    assert built.candidates["target_id"].tolist() == ["8"]  # topic 7 was acted on


def test_a_person_is_in_one_list_of_a_run_at_most():
    rows = _members("follow_up_lead", 3) + _members("reengage_customer", 2)
    rows[3]["target_id"] = "f001"  # also a lead of the follow-up list, with more impact there
    rows[3]["expected_impact"] = 10.0
    rows[4]["target_id"] = "C9"  # the contact of deal d000
    rows[4]["expected_impact"] = 500.0
    rows += _members("attend_deal", 2, target_type="deal")
    deals = pd.DataFrame({"deal_id": ["a000", "a001"], "contact_id": ["C9", "C8"]})
    kept = one_list_per_person(rows, deals)
    by_type = {t: sorted(r["target_id"] for r in kept if r["type"] == t) for t in LIST_TYPES}
    assert by_type["follow_up_lead"] == ["f000", "f001", "f002"]
    assert by_type["reengage_customer"] == ["C9"]  # its larger impact beats the deal's
    assert by_type["attend_deal"] == ["a001"]  # a000 is C9's deal: C9 is in one list only


def test_a_list_whose_holdout_had_no_event_is_not_reported():
    members = pd.DataFrame(
        {
            "recommendation_id": "r",
            "target_id": [f"c{i}" for i in range(10)],
            "score": 0.2,
            "holdout": [True, True] + [False] * 8,
        }
    )
    rec = pd.Series(
        {"recommendation_id": "r", "type": "reengage_customer", "done_day": pd.Timestamp(DAY)}
    )
    none_held = pd.Series(1.0, index=[f"c{i}" for i in range(2, 10)])  # only treated ordered
    assert _list_row(rec, members, none_held, n_resamples=200) is None
    some = pd.concat([none_held, pd.Series({"c0": 1.0})])
    assert _list_row(rec, members, some, n_resamples=200)["n"] == 10
