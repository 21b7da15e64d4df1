"""Operator-facing pieces: the landing sensor and decisions recorded from the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from click.testing import CliRunner

from flywheel_pipeline.cli import main, record_decision
from flywheel_pipeline.metadata import utc_now
from flywheel_pipeline.resources import build_resources
from flywheel_pipeline.settings import load_settings
from flywheel_pipeline.sources.files.assets import build_file_assets
from flywheel_pipeline.sources.files.automation import landing_refresh, landing_sensor
from flywheel_pipeline.sources.files.schemas import DECISIONS
from flywheel_pipeline.sources.files.tables import load_table

ORDERS = dg.AssetKey(["raw", "crm_orders"])
CONVERSATION_KEYS = [
    dg.AssetKey(["raw", "conversations"]),
    dg.AssetKey(["raw", "conversation_messages"]),
]
REVENUE = dg.AssetKey(["marts", "revenue"])
TOPICS = dg.AssetKey(["ml", "topics"])


def _landing_definitions(landing: Path) -> dg.Definitions:
    """The file assets, one asset downstream of orders and one of conversations."""

    @dg.asset(key=REVENUE, deps=[ORDERS])
    def revenue() -> None: ...

    @dg.asset(key=TOPICS, deps=CONVERSATION_KEYS)
    def topics() -> None: ...

    return dg.Definitions(
        assets=[*build_file_assets(), revenue, topics],
        jobs=[landing_refresh],
        sensors=[landing_sensor(landing)],
        resources=build_resources(load_settings(flywheel_home=landing)),
    )


def _tick(sensor: dg.SensorDefinition, defs: dg.Definitions, cursor: str | None):
    return sensor(dg.build_sensor_context(cursor=cursor, definitions=defs))


def test_landing_sensor_requests_only_the_folders_that_changed(tmp_path: Path) -> None:
    sensor = landing_sensor(tmp_path)
    defs = _landing_definitions(tmp_path)
    orders = tmp_path / "crm" / "orders"
    orders.mkdir(parents=True)
    (orders / "a.csv").write_text("order_id\n1\n")

    first = _tick(sensor, defs, None)
    assert isinstance(first, dg.SensorResult)
    [request] = first.run_requests
    assert set(request.asset_selection) == {REVENUE, ORDERS}
    assert request.tags["flywheel/landing_folders"] == "crm/orders"
    # Deterministic: the same change evaluated again asks for the same run.
    assert _tick(sensor, defs, None).run_requests[0].run_key == request.run_key
    assert json.loads(first.cursor).keys() == {"crm/orders"}
    assert isinstance(_tick(sensor, defs, first.cursor), dg.SkipReason)

    # Not the loader's files: nothing to load.
    (orders / "b.csv.partial").write_text("order_id\n")
    (tmp_path / "README.txt").write_text("drop files here")
    assert isinstance(_tick(sensor, defs, first.cursor), dg.SkipReason)

    (tmp_path / "conversations").mkdir()
    (tmp_path / "conversations" / "day.jsonl").write_text("{}\n")
    second = _tick(sensor, defs, first.cursor)
    [request] = second.run_requests
    assert set(request.asset_selection) == {*CONVERSATION_KEYS, TOPICS}
    assert json.loads(second.cursor)["crm/orders"] == json.loads(first.cursor)["crm/orders"]

    (orders / "a.csv").unlink()  # a folder emptied changed too
    third = _tick(sensor, defs, second.cursor)
    assert set(third.run_requests[0].asset_selection) == {REVENUE, ORDERS}
    assert json.loads(third.cursor).keys() == {"conversations"}


def test_landing_sensor_takes_over_a_whole_folder_cursor(tmp_path: Path) -> None:
    (tmp_path / "decisions").mkdir()
    (tmp_path / "decisions" / "d.csv").write_text("recommendation_id\n")
    sensor = landing_sensor(tmp_path)
    result = _tick(sensor, _landing_definitions(tmp_path), "0f" * 32)
    assert result.run_requests[0].asset_selection == [dg.AssetKey(["raw", "decisions"])]
    # Without the repository the whole job runs: a superset that still loads the change.
    [request] = sensor(dg.build_sensor_context(cursor=None)).run_requests
    assert request.asset_selection is None


def test_cli_decision_is_a_valid_decisions_file(tmp_path: Path) -> None:
    settings = load_settings(flywheel_home=tmp_path)
    path = record_decision(settings, "rec_abc", "accepted", "doing it, with a comma")
    loaded = load_table(DECISIONS, settings.landing_dir, utc_now())
    assert path.parent == settings.landing_dir / "decisions"
    assert loaded.quarantine.empty and not loaded.files_rejected
    assert loaded.rows[["recommendation_id", "status", "note"]].values.tolist() == [
        ["rec_abc", "accepted", "doing it, with a comma"]
    ]


def test_a_demo_decision_is_dated_in_simulated_time_and_a_live_one_now(tmp_path: Path) -> None:
    demo = load_settings(flywheel_home=tmp_path / "demo", flywheel_source="demo")
    accepted = record_decision(demo, "rec_abc", "accepted", "")
    path = record_decision(demo, "rec_abc", "done", "")
    decided_at = pd.read_csv(path)["decided_at"].iloc[0]
    assert decided_at == "2026-10-01T00:00:00+00:00"  # right after the demo's last day
    # both decisions keep their file, the later one named (and so loaded) later
    assert accepted != path and sorted([path.name, accepted.name]) == [accepted.name, path.name]
    assert pd.read_csv(accepted)["status"].iloc[0] == "accepted"
    live = load_settings(flywheel_home=tmp_path / "live", flywheel_source="live")
    before = datetime.now(UTC)
    path = record_decision(live, "rec_abc", "done", "")
    assert before <= datetime.fromisoformat(pd.read_csv(path)["decided_at"].iloc[0])


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


def _full_definitions(tmp_path: Path, **settings: object) -> dg.Definitions:
    from flywheel_pipeline.definitions import build_definitions

    return build_definitions(
        load_settings(
            flywheel_home=tmp_path,
            flywheel_source="demo",
            flywheel_duckdb_path=tmp_path / "w.duckdb",
            **settings,
        )
    )


def test_the_executor_is_in_process_unless_configured(tmp_path: Path, dbt_manifest: Path) -> None:
    from flywheel_pipeline.operations.definitions import executor_for

    assert executor_for(load_settings()) is dg.in_process_executor
    multi = executor_for(load_settings(flywheel_executor="multiprocess"))
    assert multi is dg.multi_or_in_process_executor
    job = _full_definitions(tmp_path, flywheel_executor="multiprocess").resolve_job_def(
        "everything"
    )
    assert job.executor_def is dg.multi_or_in_process_executor
    job = _full_definitions(tmp_path).resolve_job_def("everything")
    assert job.executor_def is dg.in_process_executor


def test_published_outputs_follow_the_marts_declaratively(
    tmp_path: Path, dbt_manifest: Path
) -> None:
    """Nothing is requested on an empty warehouse; once every upstream asset has been
    updated (e.g. by a partial run), the report, serving copy and action files are."""
    from flywheel_pipeline.operations.automation import PUBLISHED, publish_sensor

    defs = _full_definitions(tmp_path)
    graph = defs.resolve_asset_graph()
    published = PUBLISHED.resolve(graph)
    assert len(published) == 3
    assert publish_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    conditioned = {s.key for s in defs.resolve_all_asset_specs() if s.automation_condition}
    assert conditioned == published  # the dbt and model assets stay with jobs and schedules

    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0
    for key in graph.materializable_asset_keys - published:
        instance.report_runless_asset_event(dg.AssetMaterialization(key))
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert second.total_requested == len(published)
    assert all(second.get_requested_partitions(key) == {None} for key in published)
