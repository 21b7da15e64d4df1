"""Open recommendations become one CSV per action type under $FLYWHEEL_HOME/actions; a list
recommendation becomes its members outside the holdout."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from flywheel_pipeline.operations.actions import COLUMNS, actions_asset, export_open_actions
from flywheel_pipeline.resources import build_resources
from flywheel_pipeline.settings import load_settings
from flywheel_pipeline.warehouse import connect, replace_table


def _recommendations(statuses: dict[str, str]) -> pd.DataFrame:
    ids = list(statuses)
    return pd.DataFrame(
        {
            "recommendation_id": ids,
            "priority": range(len(ids), 0, -1),  # the last listed is the most urgent
            "status": list(statuses.values()),
            "type": [i.split(":")[0] for i in ids],
            "target_type": "contact",
            "target_id": [i.split(":")[1] for i in ids],
            "action": [f"act on {i}" for i in ids],
            "rationale": "because, with a comma",
            "expected_impact": 10.0,
            "impact_unit": "orders",
            "confidence": 0.5,
            "created_at": pd.Timestamp("2026-09-30"),
        }
    )


def test_open_actions_per_type_highest_priority_first_and_stale_files_go(tmp_path: Path) -> None:
    database, folder = tmp_path / "w.duckdb", tmp_path / "actions"
    recs = _recommendations(
        {
            "follow_up_lead:a": "proposed",
            "follow_up_lead:b": "accepted",
            "follow_up_lead:c": "done",
            "attend_deal:d": "rejected",
            "rewrite_title:e": "proposed",
        }
    )
    folder.mkdir()
    (folder / "attend_deal.csv").write_text("from an earlier run\n")
    with connect(database) as conn:
        replace_table(conn, "flywheel.recommendations", recs)
        written = export_open_actions(conn, folder)
    assert written == {"follow_up_lead": 2, "rewrite_title": 1}
    assert sorted(p.name for p in folder.iterdir()) == ["follow_up_lead.csv", "rewrite_title.csv"]
    leads = pd.read_csv(folder / "follow_up_lead.csv")
    assert list(leads.columns) == COLUMNS
    assert leads["recommendation_id"].tolist() == ["follow_up_lead:b", "follow_up_lead:a"]
    assert leads["rationale"].iloc[0] == "because, with a comma"


def test_a_list_is_written_as_its_treated_members_never_its_holdout(tmp_path: Path) -> None:
    database, folder = tmp_path / "w.duckdb", tmp_path / "actions"
    recs = _recommendations(
        {
            "follow_up_lead:list": "accepted",
            "follow_up_lead:old": "done",
            "rewrite_title:q": "proposed",
        }
    )
    recs["target_type"] = ["contact_list", "contact_list", "query"]
    members = pd.DataFrame(
        {
            "recommendation_id": ["follow_up_lead:list"] * 4 + ["follow_up_lead:old"],
            "target_id": ["L2", "L1", "L3", "L4", "L9"],
            "position": [2, 1, 3, 4, 1],
            "target_type": "contact",
            "reason": ["why L2", "why L1", "why L3", "why L4", "old"],
            "expected_impact": [3.0, 4.0, 2.0, 1.0, 9.0],
            "score": 0.3,
            "holdout": [False, False, True, False, False],
        }
    )
    with connect(database) as conn:
        replace_table(conn, "flywheel.recommendations", recs)
        replace_table(conn, "flywheel.recommendation_targets", members)
        written = export_open_actions(conn, folder)
    assert written == {"follow_up_lead": 3, "rewrite_title": 1}
    leads = pd.read_csv(folder / "follow_up_lead.csv")
    assert list(leads.columns) == COLUMNS
    assert leads["target_id"].tolist() == ["L1", "L2", "L4"]  # list order, L3 held out
    assert leads["position"].tolist() == [1, 2, 4]
    assert leads["rationale"].tolist() == ["why L1", "why L2", "why L4"]
    assert leads["expected_impact"].tolist() == [4.0, 3.0, 1.0]
    assert set(leads["recommendation_id"]) == {"follow_up_lead:list"}
    assert set(leads["status"]) == {"accepted"} and set(leads["target_type"]) == {"contact"}
    assert (leads["action"] == "act on follow_up_lead:list").all()


def test_the_asset_writes_under_flywheel_home(tmp_path: Path) -> None:
    settings = load_settings(flywheel_home=tmp_path)
    settings.duckdb_path.parent.mkdir()
    with connect(settings.duckdb_path) as conn:
        replace_table(
            conn, "flywheel.recommendations", _recommendations({"ask_referral:x": "proposed"})
        )
    result = dg.materialize([actions_asset()], resources=build_resources(settings))
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["open_ask_referral"].value == 1
    assert (tmp_path / "actions" / "ask_referral.csv").exists()


def test_a_content_or_title_brief_is_exported_as_one_multi_line_cell(tmp_path: Path) -> None:
    database, folder = tmp_path / "w.duckdb", tmp_path / "actions"
    recs = _recommendations({"create_content:7": "proposed", "follow_up_lead:a": "proposed"})
    brief = (
        "Topic: Where is my parcel?\n\n"
        "Customers ask (their first message, redacted; most frequent of 60 conversations):\n"
        '- 41× where is my parcel, "asap"\n'
        "- 3× has my order … shipped yet"
    )
    recs["brief"] = [brief, None]
    with connect(database) as conn:
        replace_table(conn, "flywheel.recommendations", recs)
        export_open_actions(conn, folder)
    content = pd.read_csv(folder / "create_content.csv")
    assert list(content.columns) == COLUMNS and "brief" in COLUMNS
    assert content["brief"].tolist() == [brief]
    leads = pd.read_csv(folder / "follow_up_lead.csv")
    assert list(leads.columns) == COLUMNS and leads["brief"].isna().all()
