"""`flywheel simulate`: cycles in simulated time, the world's applied actions, the verdict,
and (slow) a real two-arm run and its rerun."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from flywheel_pipeline.evaluation.loop import lift_by_type, loop_verdict, outcomes_against_planted
from flywheel_pipeline.simulation.cycle import SimulationError, top_proposals
from flywheel_pipeline.simulation.driver import CYCLES_TABLE, prepare_arms, run_simulation
from flywheel_pipeline.simulation.plan import CONTROL, MARKER, TREATED, SimulationPlan
from flywheel_pipeline.sources.demo import DemoConfig, simulate
from flywheel_pipeline.sources.demo.world import (
    applied_actions_of,
    read_applied_actions,
    record_applied_actions,
)
from flywheel_pipeline.sources.files.decisions import decision_time
from flywheel_pipeline.warehouse import connect, replace_table

ON = dt.date(2026, 10, 1)


def test_each_cycle_moves_the_demo_on_with_the_same_start(tmp_path: Path) -> None:
    plan = SimulationPlan(home=tmp_path, cycles=3, cycle_days=28)
    first, later = plan.settings(TREATED, 0), plan.settings(TREATED, 2)
    assert first.flywheel_demo_end_date == dt.date(2026, 9, 30)
    assert later.flywheel_demo_end_date == dt.date(2026, 11, 25)
    start = later.flywheel_demo_end_date - dt.timedelta(days=later.flywheel_demo_days - 1)
    assert start == first.flywheel_demo_end_date - dt.timedelta(days=first.flywheel_demo_days - 1)
    assert plan.window(2) == (dt.date(2026, 10, 29), dt.date(2026, 11, 25))
    assert later.home == tmp_path / TREATED and plan.settings(CONTROL, 2).home == tmp_path / CONTROL
    # a decision taken at a cycle is dated when its data end, in simulated time
    assert decision_time(later) == dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="cycles"):
        SimulationPlan(home=tmp_path, cycles=0)


def test_arms_start_afresh_but_never_over_a_folder_they_did_not_create(tmp_path: Path) -> None:
    plan = SimulationPlan(home=tmp_path)
    prepare_arms(plan)
    (tmp_path / TREATED / "leftover.txt").write_text("from the last run")
    prepare_arms(plan)
    assert not (tmp_path / TREATED / "leftover.txt").exists()
    assert (tmp_path / CONTROL / MARKER).exists()
    foreign = SimulationPlan(home=tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / TREATED).mkdir(parents=True)
    with pytest.raises(SimulationError, match="not created by `flywheel simulate`"):
        prepare_arms(foreign)


def _world(path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(path))
    replace_table(
        conn,
        "ml.recommendation_targets",
        pd.DataFrame(
            {
                "recommendation_id": ["rec_l"] * 4,
                "target_type": ["contact"] * 4,
                "target_id": ["C1", "C2", "C3", "C4"],
                "holdout": [False, True, False, False],
            }
        ),
    )
    replace_table(
        conn,
        "ml.conversation_topic_assignments",
        pd.DataFrame({"conversation_id": ["a", "b", "c", "d"], "topic_id": [7, 7, 7, 8]}),
    )
    replace_table(
        conn,
        "demo_truth.conversation_topics",
        pd.DataFrame(
            {
                "conversation_id": ["a", "b", "c", "d"],
                "topic_key": ["product_care", "product_care", "sizing", "sizing"],
            }
        ),
    )
    return conn


def test_the_world_applies_a_list_to_its_treated_members_and_a_topic_to_its_planted_one(
    tmp_path: Path,
) -> None:
    done = pd.DataFrame(
        {
            "recommendation_id": ["rec_l", "rec_t", "rec_q", "rec_x"],
            "type": ["follow_up_lead", "create_content", "rewrite_title", "not_an_action"],
            "target_type": ["contact_list", "topic", "query", "query"],
            "target_id": ["follow_up_lead:2026-09-30", "7", "merino crew sweater", "q"],
        }
    )
    with _world(tmp_path / "w.duckdb") as conn:
        actions = applied_actions_of(conn, done, ON)
    assert set(actions.itertuples(index=False, name=None)) == {
        ("follow_up_lead", "C1", "2026-10-01", "rec_l"),
        ("follow_up_lead", "C3", "2026-10-01", "rec_l"),
        ("follow_up_lead", "C4", "2026-10-01", "rec_l"),  # C2 is the holdout: untouched
        ("create_content", "product_care", "2026-10-01", "rec_t"),  # 2 of 3 conversations
        ("rewrite_title", "merino crew sweater", "2026-10-01", "rec_q"),
    }
    record_applied_actions(tmp_path, actions)
    record_applied_actions(tmp_path, actions)  # a rerun records nothing twice
    recorded = read_applied_actions(tmp_path)
    assert len(recorded) == 5
    assert ("create_content", "product_care", "2026-10-01") in recorded


def test_a_recorded_action_changes_the_business_only_from_its_day_and_only_its_target(
    tmp_path: Path,
) -> None:
    record_applied_actions(
        tmp_path,
        pd.DataFrame(
            [("create_content", "product_care", "2026-08-01", "rec_t")],
            columns=["action_type", "target_id", "applied_on", "recommendation_id"],
        ),
    )
    base = DemoConfig(seed=3, scale=0.3, days=120)
    treated = simulate(base.with_actions(*read_applied_actions(tmp_path)))
    control = simulate(base)

    def topics(business, before: bool) -> pd.Series:
        frame = business.truth["conversation_topics"]
        early = frame["conversation_id"].str[2:10] < "20260801"
        return frame[early if before else ~early]["topic_key"].value_counts()

    pd.testing.assert_series_equal(topics(treated, True), topics(control, True))
    after_t, after_c = topics(treated, False), topics(control, False)
    assert after_t["product_care"] < 0.75 * after_c["product_care"]
    assert after_t.drop("product_care").sum() == pytest.approx(
        after_c.drop("product_care").sum(), rel=0.03
    )


def test_top_proposals_take_the_cycles_open_recommendations_by_priority() -> None:
    with duckdb.connect() as conn:
        replace_table(
            conn,
            "flywheel.recommendations",
            pd.DataFrame(
                {
                    "recommendation_id": ["a", "b", "c", "d", "e"],
                    "type": ["t"] * 5,
                    "target_type": ["x"] * 5,
                    "target_id": ["1", "2", "3", "4", "5"],
                    "priority": [3, 1, 2, 4, 1],
                    "cycle": [1, 1, 1, 1, 0],
                    "status": ["proposed", "proposed", "done", "proposed", "proposed"],
                }
            ),
        )
        chosen = top_proposals(conn, cycle=1, k=2)
    assert chosen["recommendation_id"].tolist() == ["b", "a"]


def _outcomes(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["recommendation_id", "type", "metric", "estimated_lift", "ci_low", "ci_high"]
    ).assign(n=10)


def test_outcomes_are_held_against_the_planted_effects(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        replace_table(
            conn,
            "demo_truth.action_effects",
            pd.DataFrame(
                [
                    ("follow_up_lead", "contact", "p_convert_90d", 0.5),
                    ("fix_content", "topic", "topic_resolution_rate", 0.0),
                ],
                columns=["action_type", "target_type", "metric", "relative_effect"],
            ),
        )
        replace_table(
            conn,
            "flywheel.recommendation_outcomes",
            _outcomes(
                [
                    ("r1", "follow_up_lead", "conversion_90d", 0.4, 0.1, 0.8),
                    ("r2", "follow_up_lead", "conversion_90d", 0.1, -0.2, 0.3),
                    ("r3", "fix_content", "topic_resolution_rate", 0.02, -0.1, 0.15),
                ]
            ),
        )
        judged = outcomes_against_planted(conn).set_index("recommendation_id")
    assert judged["planted_lift"].to_dict() == {"r1": 0.5, "r2": 0.5, "r3": 0.0}
    assert judged["covers_planted"].to_dict() == {"r1": True, "r2": False, "r3": True}
    assert judged["significant"].to_dict() == {"r1": True, "r2": False, "r3": False}
    pooled = lift_by_type(judged.reset_index()).set_index("type")
    # pooled between the two estimates, narrower than either interval
    lead = pooled.loc["follow_up_lead"]
    assert 0.1 < lead["measured_lift"] < 0.4 and lead["ci_high"] - lead["ci_low"] < 0.5
    assert lead["covering_share"] == 0.5


def _cycles(control_revenue: list[float], treated_revenue: list[float]) -> pd.DataFrame:
    rows = []
    for arm, revenue in (("control", control_revenue), ("treated", treated_revenue)):
        for cycle, value in enumerate(revenue):
            phase = "accumulation" if arm == "control" or cycle < 3 else "acceleration"
            rows.append({"arm": arm, "cycle": cycle, "revenue": value, "phase": phase})
    return pd.DataFrame(rows)


def test_the_verdict_weighs_the_gain_against_the_controls_own_noise() -> None:
    outcomes = pd.DataFrame(
        {
            "type": ["follow_up_lead"],
            "ci_low": [0.1],
            "ci_high": [0.9],
            "covers_planted": [True],
            "significant": [True],
        }
    )
    control = [100.0, 110, 105, 115, 108, 112, 110]
    clear = dict(loop_verdict(_cycles(control, [100.0, 112, 110, 125, 125, 130, 130]), outcomes))
    assert [holds for holds in clear.values()] == [True, True, True, True]
    noise = dict(loop_verdict(_cycles(control, [100.0, 110, 105, 115, 109, 113, 111]), outcomes))
    assert next(iter(noise.values())) is False


@pytest.mark.slow
def test_a_simulation_turns_the_wheel_and_a_rerun_gives_the_same_table(tmp_path: Path) -> None:
    plan = SimulationPlan(home=tmp_path / "sim", scale=0.3, days=120, cycles=1, accept_top=6)
    lines: list[str] = []
    cycles = run_simulation(plan, lines.append)
    assert len(lines) == 1 + 4  # the header, then a row per arm and cycle as they land
    by_arm = cycles.set_index(["arm", "cycle"])
    assert by_arm.loc[(TREATED, 0), "recommendations_done"] == 6
    assert by_arm.loc[(CONTROL, 0), "recommendations_done"] == 0
    assert by_arm.loc[(TREATED, 1), "data_through"] == dt.date(2026, 10, 28)
    # the same business: identical until the first actions take effect on 2026-10-01
    pd.testing.assert_series_equal(
        by_arm.loc[(TREATED, 0)].drop("recommendations_done"),
        by_arm.loc[(CONTROL, 0)].drop("recommendations_done"),
        check_names=False,
    )
    treated = plan.settings(TREATED, 1)
    decisions = pd.read_csv(treated.landing_dir / "decisions" / "simulate-cycle-000.csv")
    assert set(decisions["decided_at"]) == {"2026-10-01T00:00:00+00:00"}
    assert sorted(decisions["status"].unique()) == ["accepted", "done"]
    later = pd.read_csv(treated.landing_dir / "decisions" / "simulate-cycle-001.csv")
    assert set(later["decided_at"]) == {"2026-10-29T00:00:00+00:00"}
    # the world applies each cycle's actions from the day they were done
    applied = pd.read_csv(treated.demo_dir / "applied_actions.csv", dtype=str)
    assert set(applied["applied_on"]) == {"2026-10-01", "2026-10-29"}
    with connect(treated.duckdb_path, read_only=True) as conn:
        statuses = dict(
            conn.execute(
                "select recommendation_id, status from flywheel.recommendations "
                "where list_contains(?, recommendation_id)",
                [sorted(set(decisions["recommendation_id"]))],
            ).fetchall()
        )
        holdout = set(
            conn.execute("select target_id from ml.recommendation_targets where holdout").df()[
                "target_id"
            ]
        )
        stored = conn.execute(f"select * from {CYCLES_TABLE} order by arm, cycle").df()
    assert len(statuses) == 6 and set(statuses.values()) <= {"done", "measured"}
    assert not holdout & set(applied["target_id"])  # the holdout is left alone
    assert len(stored) == 4
    # the control's extraction of the new cycle asked the Google sources for its days only
    log = (plan.arm_home(CONTROL) / "logs" / "simulate.log").read_text()
    cycle_1 = log.split("simulate-cycle-001.log")[1].splitlines()
    google = [line for line in cycle_1 if "raw/ga4_" in line or "raw/gsc_" in line]
    assert len(google) == 5
    assert all(line.endswith("(2026-10-01 .. 2026-10-28)") for line in google)

    treated_only = SimulationPlan(
        home=tmp_path / "sim", scale=0.3, days=120, cycles=1, accept_top=6, control=False
    )
    again = run_simulation(treated_only, lines.append)
    pd.testing.assert_frame_equal(again, cycles[cycles["arm"] == TREATED].reset_index(drop=True))


def test_a_simulation_longer_than_the_demo_allows_stops_before_it_starts(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from flywheel_pipeline.cli import main

    result = CliRunner().invoke(main, ["simulate", "--cycles", "40", "--home", str(tmp_path)])
    assert result.exit_code != 0
    assert "FLYWHEEL_DEMO_DAYS" in result.output and "(at cycle 40)" in result.output
    assert not (tmp_path / TREATED).exists()  # nothing was prepared
