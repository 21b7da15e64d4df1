"""Operator-facing pieces: the landing sensor and decisions recorded from the CLI."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from click.testing import CliRunner

from flywheel_pipeline.cli import main, record_decision
from flywheel_pipeline.metadata import utc_now
from flywheel_pipeline.operations.automation import landing_sensor
from flywheel_pipeline.settings import load_settings
from flywheel_pipeline.sources.files.schemas import DECISIONS
from flywheel_pipeline.sources.files.tables import load_table


def test_landing_sensor_requests_a_run_only_when_files_change(tmp_path: Path) -> None:
    sensor = landing_sensor(tmp_path)
    (tmp_path / "crm" / "orders").mkdir(parents=True)
    (tmp_path / "crm" / "orders" / "a.csv").write_text("order_id\n1\n")

    first = sensor(dg.build_sensor_context(cursor=None))
    assert isinstance(first, dg.RunRequest)
    cursor = first.run_key
    assert isinstance(sensor(dg.build_sensor_context(cursor=cursor)), dg.SkipReason)

    (tmp_path / "crm" / "orders" / "b.csv").write_text("order_id\n2\n")
    assert isinstance(sensor(dg.build_sensor_context(cursor=cursor)), dg.RunRequest)


def test_cli_decision_is_a_valid_decisions_file(tmp_path: Path) -> None:
    settings = load_settings(flywheel_home=tmp_path)
    path = record_decision(settings, "rec_abc", "accepted", "doing it, with a comma")
    loaded = load_table(DECISIONS, settings.landing_dir, utc_now())
    assert path.parent == settings.landing_dir / "decisions"
    assert loaded.quarantine.empty and not loaded.files_rejected
    assert loaded.rows[["recommendation_id", "status", "note"]].values.tolist() == [
        ["rec_abc", "accepted", "doing it, with a comma"]
    ]


def test_cli_reports_a_bad_setting_in_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLYWHEEL_DEMO_SCALE", "huge")
    result = CliRunner().invoke(main, ["recommendations", "accept", "rec_1"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "Error: FLYWHEEL_DEMO_SCALE: Input should be a valid number, unable to parse string "
        "as a number (got 'huge')"
    ]


def test_cli_without_a_warehouse_says_how_to_make_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["recommendations", "list"])
    assert result.exit_code != 0
    assert "run `flywheel demo`" in result.output
