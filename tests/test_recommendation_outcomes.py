"""Outcomes of done recommendations: the arithmetic on hand-made frames (a known difference in
differences, a known cohort lift), the dating rules, controls that were never acted on, the
asset on a warehouse, and the demo business with planted actions — the measured interval
covers the planted effect, and a control run without actions measures no effect (lists: their
treated members against their random holdout; tests/test_recommendation_lists.py has the
estimator's coverage over many simulated lists).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from flywheel_pipeline import tables
from flywheel_pipeline.insights.lead_scoring import score_leads
from flywheel_pipeline.recommendations import OUTCOME_COLUMNS, measure_outcomes
from flywheel_pipeline.recommendations._lift import cohort_lift
from flywheel_pipeline.recommendations.assets import recommendation_outcomes
from flywheel_pipeline.recommendations.lists import LIST_TYPES, holdout_mask
from flywheel_pipeline.recommendations.outcome_inputs import read_outcome_inputs
from flywheel_pipeline.recommendations.outcomes import WINDOW_DAYS
from flywheel_pipeline.sources.demo import DemoConfig, simulate
from flywheel_pipeline.warehouse import WarehouseResource, connect, replace_table
from tests.support import warehouse_of

DONE = pd.Timestamp("2026-03-02")
FAST = 200  # bootstrap resamples where the interval itself is not under test


def _recs(*rows: tuple, done: pd.Timestamp = DONE) -> pd.DataFrame:
    """(recommendation_id, type, target_type, target_id[, accepted only]) rows, done on
    ``done`` unless marked accepted only."""
    frame = pd.DataFrame(
        [(*r[:4], len(r) > 4 and r[4]) for r in rows],
        columns=["recommendation_id", "type", "target_type", "target_id", "accepted_only"],
    )
    frame["accepted_at"] = done - pd.Timedelta(days=1)
    frame["done_at"] = pd.Series(done + pd.Timedelta(hours=15), index=frame.index).where(
        ~frame["accepted_only"]
    )
    return frame.drop(columns="accepted_only")


def _search(ctr: dict[str, tuple[float, float]], *, days: int = WINDOW_DAYS) -> pd.DataFrame:
    """Query rows for ``days`` days either side of DONE: CTR before / after per query, at
    position 5, with impressions that alternate day to day (the CTR of every day stays
    exact, so every resample agrees and the interval collapses onto the estimate)."""
    rows = []
    for i, day in enumerate(pd.date_range(DONE - pd.Timedelta(days=days), periods=2 * days)):
        impressions = 900.0 if i % 2 else 1100.0
        for query, (before, after) in ctr.items():
            rate = after if day >= DONE else before
            # two rows a day (devices): the CTR is measured on date × query
            for share in (0.4, 0.6):
                rows.append(
                    (day.date(), query, rate * impressions * share, impressions * share, 5.0)
                )
    return pd.DataFrame(
        rows, columns=["report_date", "search_query", "clicks", "impressions", "avg_position"]
    )


CONTROLS = {f"control {i}": (0.04, 0.044) for i in range(4)}  # +10 % for every control


def test_query_ctr_difference_in_differences():
    search = _search({"blue shirt": (0.02, 0.03), **CONTROLS})
    recs = _recs(("r1", "rewrite_title", "query", "blue shirt"))
    out = measure_outcomes(recs, search=search, n_resamples=FAST)
    assert list(out.columns) == OUTCOME_COLUMNS and len(out) == 1
    row = out.iloc[0]
    assert row["metric"] == "query_ctr" and row["higher_is_better"]
    assert row["baseline_value"] == pytest.approx(0.02)
    assert row["observed_value"] == pytest.approx(0.03)
    assert row["control_change"] == pytest.approx(0.10)
    # (0.03 / 0.02) / 1.1 − 1
    assert row["estimated_lift"] == pytest.approx(1.5 / 1.1 - 1)
    assert row["ci_low"] == pytest.approx(row["estimated_lift"], abs=1e-9)
    assert row["ci_high"] == pytest.approx(row["estimated_lift"], abs=1e-9)
    assert row["n"] == 5  # the target and its four controls
    assert row["method"].startswith("difference in differences")
    assert row["measured_at"] == DONE + pd.Timedelta(days=WINDOW_DAYS - 1)


def test_noisy_days_give_an_interval_around_the_estimate():
    search = _search({"blue shirt": (0.02, 0.03), **CONTROLS})
    noise = np.random.default_rng(0).normal(1, 0.2, len(search))
    search["clicks"] *= noise
    out = measure_outcomes(_recs(("r1", "rewrite_title", "query", "blue shirt")), search=search)
    row = out.iloc[0]
    assert row["ci_low"] < row["estimated_lift"] < row["ci_high"]
    assert row["ci_low"] > 0  # a +36 % lift stands out of ±20 % daily noise
    again = measure_outcomes(_recs(("r1", "rewrite_title", "query", "blue shirt")), search=search)
    pd.testing.assert_frame_equal(out, again)  # seeded: reruns reproduce the interval


def test_controls_were_never_acted_on_and_sit_at_a_similar_position():
    search = _search({"blue shirt": (0.02, 0.03), **CONTROLS, "rewritten": (0.04, 0.08)})
    far = _search({"far away": (0.004, 0.004)})
    far["avg_position"] = 15.0  # a third of the target's CTR curve away: not comparable
    search = pd.concat([search, far])
    target = ("r1", "rewrite_title", "query", "blue shirt")
    # accepted (not done yet) is enough to disqualify a control
    accepted = _recs(target, ("r2", "rewrite_title", "query", "rewritten", True))
    row = measure_outcomes(accepted, search=search, n_resamples=FAST).iloc[0]
    assert row["n"] == 5 and row["control_change"] == pytest.approx(0.10)
    # without a recommendation, the doubling query is a control and dilutes the lift
    row = measure_outcomes(_recs(target), search=search, n_resamples=FAST).iloc[0]
    assert row["n"] == 6 and row["control_change"] > 0.10


def test_nothing_is_measured_before_the_window_after_has_ended():
    search = _search({"blue shirt": (0.02, 0.03), **CONTROLS})
    rec = ("r1", "rewrite_title", "query", "blue shirt")
    last = pd.Timestamp(search["report_date"].max())
    # the window after ends one day after the data's last day: not yet
    late = _recs(rec, done=last - pd.Timedelta(days=WINDOW_DAYS - 2))
    assert measure_outcomes(late, search=search).empty
    # a window before that starts before the data has no baseline
    early = _recs(rec, done=DONE - pd.Timedelta(days=1))
    assert measure_outcomes(early, search=search).empty
    # proposed, accepted or rejected recommendations are not measured at all
    assert measure_outcomes(_recs((*rec, True)), search=search).empty


def _conversations(spec: dict[int, tuple[int, int, int, int]]) -> tuple[pd.DataFrame, ...]:
    """Per topic: conversations a day before, resolved of them, a day after, resolved."""
    rows = []
    for day in pd.date_range(DONE - pd.Timedelta(days=WINDOW_DAYS), periods=2 * WINDOW_DAYS):
        for topic, (n_before, ok_before, n_after, ok_after) in spec.items():
            n, ok = (n_after, ok_after) if day >= DONE else (n_before, ok_before)
            for i in range(n):
                rows.append(
                    (f"c{day:%Y%m%d}-{topic}-{i}", day + pd.Timedelta(hours=9 + i), i < ok, topic)
                )
    frame = pd.DataFrame(rows, columns=["conversation_id", "started_at", "resolved", "topic_id"])
    return frame.drop(columns="topic_id"), frame[["conversation_id", "topic_id"]]


def test_topic_volume_and_resolution_difference_in_differences():
    controls = {t: (10, 8, 12, 9) for t in (1, 2, 4)}  # volume +20 %, resolution 80 % → 75 %
    conversations, assignments = _conversations({3: (4, 2, 2, 1), 5: (4, 2, 4, 3), **controls})
    recs = _recs(("gap", "create_content", "topic", "3"), ("fix", "fix_content", "topic", "5"))
    out = measure_outcomes(
        recs, conversations=conversations, assignments=assignments, n_resamples=FAST
    ).set_index("recommendation_id")
    gap, fix = out.loc["gap"], out.loc["fix"]
    assert gap["metric"] == "topic_conversations" and not gap["higher_is_better"]
    assert (gap["baseline_value"], gap["observed_value"]) == (4.0, 2.0)
    # topic 5 is a control of topic 3 only while nobody acts on it: here both are acted on
    assert gap["control_change"] == pytest.approx(0.2) and gap["n"] == 4
    assert gap["estimated_lift"] == pytest.approx(0.5 / 1.2 - 1)
    assert fix["metric"] == "topic_resolution_rate" and fix["higher_is_better"]
    assert (fix["baseline_value"], fix["observed_value"]) == (0.5, 0.75)
    assert fix["control_change"] == pytest.approx(27 / 36 / 0.8 - 1)
    assert fix["estimated_lift"] == pytest.approx(1.5 / (27 / 36 / 0.8) - 1)


def test_cohort_lift_recalibrates_expectations_on_the_controls_of_the_same_cell():
    # Controls: cell 0 convert as expected, cell 1 at half the expected rate.
    y_c = np.r_[np.ones(10), np.zeros(40), np.ones(10), np.zeros(40)]
    e_c = np.r_[np.full(50, 0.2), np.full(50, 0.4)]
    cell_c = np.r_[np.zeros(50), np.ones(50)]
    # Ten treated leads in cell 1, expected 0.2 each → 0.1 after recalibration; 4 converted.
    treated = (np.r_[np.ones(4), np.zeros(6)], np.full(10, 0.2), np.ones(10))
    est = cohort_lift(treated, (y_c, e_c, cell_c), seed=1)
    assert est.baseline == pytest.approx(0.1) and est.observed == pytest.approx(0.4)
    assert est.lift == pytest.approx(3.0)
    assert est.control_change == pytest.approx(20 / 30 - 1)
    assert est.ci_low < est.lift < est.ci_high


def test_nothing_to_measure_gives_an_empty_contract_frame():
    for recs in (None, _recs(("r1", "ask_referral", "contact", "C1"))):
        out = measure_outcomes(recs)
        assert out.empty and list(out.columns) == OUTCOME_COLUMNS
        assert str(out["estimated_lift"].dtype) == "float64"


def test_asset_writes_the_outcomes_of_done_recommendations(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    resources = {"warehouse": WarehouseResource(path=str(path))}
    assert dg.materialize([recommendation_outcomes], resources=resources).success
    with connect(path) as conn:
        assert conn.execute("select count(*) from ml.recommendation_outcomes").fetchall() == [(0,)]
        candidates = pd.DataFrame(
            {
                "recommendation_id": ["r1", "r2"],
                "type": "rewrite_title",
                "target_type": "query",
                "target_id": ["blue shirt", "control 0"],
            }
        )
        replace_table(conn, "ml.recommendation_candidates", candidates)
        # as intermediate.int_recommendations__decisions folds the decision rows
        decisions = pd.DataFrame(
            {
                "recommendation_id": ["r1", "r2"],
                "status": ["done", "rejected"],
                "accepted_at": [DONE - pd.Timedelta(days=1), pd.NaT],
                "done_at": [DONE + pd.Timedelta(hours=9), pd.NaT],
            }
        )
        replace_table(conn, "intermediate.int_recommendations__decisions", decisions)
        search = _search({"blue shirt": (0.02, 0.03), **CONTROLS})
        replace_table(conn, "intermediate.int_search__query_pages_daily", search)
    assert dg.materialize([recommendation_outcomes], resources=resources).success
    with connect(path) as conn:
        out = conn.execute("select * from ml.recommendation_outcomes").df()
    assert out["recommendation_id"].tolist() == ["r1"]
    assert out.loc[0, "estimated_lift"] == pytest.approx(1.5 / 1.1 - 1)
    assert out.loc[0, "n"] == 5  # a rejected recommendation leaves its target a control


# --------------------------------------------------------------------------------------------
# the demo business with planted actions

DAY = dt.date(2026, 6, 25)
DEMO = DemoConfig(seed=4, scale=1.0, days=270)
N_TITLES, N_LEADS, N_DEALS = 4, 60, 20
TOPIC = "product_care"  # a content gap, as create_content targets


def _staged(business) -> dict[str, pd.DataFrame]:
    """The simulator's output in the shape of the staging tables the asset reads."""
    records = list(business.conversations)
    conversations = pd.DataFrame(
        {
            "conversation_id": [c["conversation_id"] for c in records],
            "started_at": pd.to_datetime(
                [c["started_at"] for c in records], utc=True, format="ISO8601"
            ),
            "resolved": [c.get("resolved") for c in records],
            "contact_id": [c["contact"].get("contact_id") for c in records],
        }
    )
    # The planted topics stand in for the topic model's: its accuracy is tested elsewhere,
    # here the measurement is.
    topics = business.truth["conversation_topics"]
    return {
        "search": business.gsc.rename(
            columns={"date": "report_date", "query": "search_query", "position": "avg_position"}
        ),
        "conversations": conversations,
        "assignments": topics.rename(columns={"topic_key": "topic_id"}),
        "contacts": business.crm["contacts"],
        "orders": business.crm["orders"],
        "deals": business.crm["deals"],
        "referrals": business.crm["referrals"],
    }


def _targets(staged: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """What the recommendations would pick on DAY, from the data before it: busy queries,
    the top-scored open leads, the most valuable open deals of other contacts."""
    search = staged["search"]
    recent = search[
        pd.to_datetime(search["report_date"]).dt.date.between(
            DAY - dt.timedelta(days=WINDOW_DAYS), DAY - dt.timedelta(days=1)
        )
    ]
    busy = recent.groupby("search_query")["impressions"].sum().sort_values(ascending=False)
    titles = [q for q in busy.index if q != "shop example"][:N_TITLES]  # the brand query
    before = DAY - dt.timedelta(days=1)
    scores = score_leads(
        staged["contacts"], staged["conversations"], staged["orders"], data_through=before
    ).lead_scores
    leads = scores.nlargest(N_LEADS, "lead_score")["contact_id"].tolist()
    deals = staged["deals"]
    open_ = deals[
        (deals["created_at"] < pd.Timestamp(DAY, tz="UTC"))
        & ~(deals["closed_at"] < pd.Timestamp(DAY, tz="UTC"))
        & ~deals["contact_id"].isin(leads)
    ]
    return {
        "rewrite_title": titles,
        "create_content": [TOPIC],
        "follow_up_lead": leads,
        "attend_deal": open_.nlargest(N_DEALS, "amount")["deal_id"].tolist(),
    }


TARGET_TYPES = {
    "rewrite_title": "query",
    "create_content": "topic",
    "follow_up_lead": "contact",
    "attend_deal": "deal",
}


LISTS = ("follow_up_lead", "attend_deal")


def _list_members(kind: str, ids: list[str]) -> pd.DataFrame:
    """The members of ``kind``'s list as ml.recommendation_targets records them: the score
    is unknown here (plain means), the holdout drawn as the lists draw it."""
    held = holdout_mask(kind, len(ids), 0.2)
    return pd.DataFrame(
        {
            "recommendation_id": kind,
            "target_type": LIST_TYPES[kind][1],
            "target_id": ids,
            "position": range(1, len(ids) + 1),
            "reason": "planted",
            "expected_impact": 1.0,
            "score": np.nan,
            "holdout": held,
        }
    )


@pytest.fixture(scope="module")
def demo_outcomes() -> dict:
    control = simulate(DEMO)
    staged_control = _staged(control)
    targets = _targets(staged_control)
    members = pd.concat([_list_members(kind, targets[kind]) for kind in LISTS])
    treated_members = set(members.loc[~members["holdout"], "target_id"])
    # one recommendation per title and topic; one list per lead and deal type, whose
    # holdout is left alone
    actions = [
        (kind, t, DAY)
        for kind, ids in targets.items()
        for t in ids
        if kind not in LISTS or t in treated_members
    ]
    treated = simulate(DEMO.with_actions(*actions))
    done = pd.Timestamp(DAY)
    singles = [
        (f"{kind}:{t}", kind, TARGET_TYPES[kind], t) for kind, t, _ in actions if kind not in LISTS
    ]
    lists = [(kind, kind, LIST_TYPES[kind][0], f"{kind}:{DAY}") for kind in LISTS]
    recs = _recs(*singles, *lists, done=done)
    staged = {"treated": _staged(treated), "control": staged_control}
    measured = {
        name: measure_outcomes(recs, targets=members, **frames).merge(
            recs[["recommendation_id", "type"]]
        )
        for name, frames in staged.items()
    }
    return {
        "business": {"treated": treated, "control": control},
        "targets": targets,
        "members": members,
        "recs": recs,
        "staged": staged,
        **measured,
    }


@pytest.mark.slow
def test_what_the_asset_reads_measures_what_the_whole_tables_measure(demo_outcomes):
    """The asset hands measure_outcomes the topics' days counted in the warehouse and only
    the list members' contacts and orders: the outcomes are those of the whole tables."""
    staged, recs = demo_outcomes["staged"]["treated"], demo_outcomes["recs"]
    relations = {
        "conversations": tables.CONVERSATIONS,
        "assignments": tables.CONVERSATION_TOPIC_ASSIGNMENTS,
        "contacts": tables.CONTACTS,
        "orders": tables.ORDERS,
        "deals": tables.DEALS,
        "referrals": tables.REFERRALS,
        "search": tables.QUERY_PAGES_DAILY,
        "targets": tables.RECOMMENDATION_TARGETS,
    }
    frames = {**staged, "assignments": staged["assignments"].assign(data_through=DAY)}
    frames["targets"] = demo_outcomes["members"]
    with warehouse_of({table: frames[name] for name, table in relations.items()}) as conn:
        inputs = read_outcome_inputs(conn)
    assert len(inputs["orders"]) < len(staged["orders"]) / 5  # the members' orders only
    assert "conversations" not in inputs and len(inputs["topic_days"]) > 0
    measured = measure_outcomes(recs, **inputs).merge(recs[["recommendation_id", "type"]])
    pd.testing.assert_frame_equal(measured, demo_outcomes["treated"])


def _planted(business, action_type: str, metric: str) -> float:
    effects = business.truth["action_effects"]
    row = effects[(effects["action_type"] == action_type) & (effects["metric"] == metric)]
    return float(row["relative_effect"].iloc[0])


def _covers(rows: pd.DataFrame, value: float) -> pd.Series:
    return (rows["ci_low"] <= value) & (value <= rows["ci_high"])


@pytest.mark.slow
def test_demo_rewrite_title_measures_the_planted_ctr_lift(demo_outcomes):
    planted = _planted(demo_outcomes["business"]["treated"], "rewrite_title", "query_ctr")
    treated = demo_outcomes["treated"].query("type == 'rewrite_title'")
    assert len(treated) == N_TITLES
    assert _covers(treated, planted).all(), treated
    assert (treated["ci_low"] > 0).all()  # +50 % on a busy query is plainly visible
    control = demo_outcomes["control"].query("type == 'rewrite_title'")
    assert _covers(control, 0.0).all(), control


@pytest.mark.slow
def test_demo_create_content_measures_the_planted_drop_in_conversations(demo_outcomes):
    planted = _planted(
        demo_outcomes["business"]["treated"], "create_content", "topic_conversations"
    )
    treated = demo_outcomes["treated"].query("type == 'create_content'")
    assert len(treated) == 1 and treated["estimated_lift"].iloc[0] < 0
    assert _covers(treated, planted).all(), treated
    control = demo_outcomes["control"].query("type == 'create_content'")
    assert _covers(control, 0.0).all(), control


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "metric"), [("follow_up_lead", "p_convert_90d"), ("attend_deal", "p_win")]
)
def test_demo_lists_cover_the_planted_effect_and_zero_without_actions(demo_outcomes, kind, metric):
    planted = _planted(demo_outcomes["business"]["treated"], kind, metric)
    treated = demo_outcomes["treated"].query("type == @kind")
    assert len(treated) == 1 and treated["n"].iloc[0] == len(demo_outcomes["targets"][kind])
    assert _covers(treated, planted).all(), treated.iloc[0]
    # the control run shares every random draw and has the same holdout recorded: no effect
    control = demo_outcomes["control"].query("type == @kind")
    assert _covers(control, 0.0).all(), control.iloc[0]
