"""The Dagster wiring: it loads, validates, and follows the architecture's rules."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import dagster as dg
import pytest

from flywheel_pipeline.definitions import build_definitions
from flywheel_pipeline.settings import load_settings

GROUPS = {
    "demo",
    "sources",
    "staging",
    "intermediate",
    "attract",
    "engage",
    "delight",
    "advocate",
    "flywheel",
}


@pytest.fixture
def defs(tmp_path: Path, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    monkeypatch.setenv("FLYWHEEL_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    return build_definitions(load_settings(flywheel_home=tmp_path, flywheel_source="demo"))


def _specs(defs: dg.Definitions) -> list[dg.AssetSpec]:
    return list(defs.resolve_all_asset_specs())


def test_dagster_definitions_validate(tmp_path: Path, dbt_manifest: Path) -> None:
    env = {**os.environ, "FLYWHEEL_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "flywheel_pipeline.definitions"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_every_dependency_is_an_asset_we_define(defs: dg.Definitions) -> None:
    """dbt sources map onto raw/ml assets: nothing in the graph is an unmanaged stub."""
    keys = {spec.key for spec in _specs(defs)}
    dangling = {dep.asset_key for spec in _specs(defs) for dep in spec.deps} - keys
    assert not dangling


def test_asset_groups_follow_the_flywheel_stages(defs: dg.Definitions) -> None:
    assert {spec.group_name for spec in _specs(defs)} <= GROUPS
    groups = {spec.key.to_user_string(): spec.group_name for spec in _specs(defs)}
    assert groups["attract/traffic_daily"] == "attract"
    assert groups["ml/conversation_topics"] == "engage"


def test_every_warehouse_writer_is_in_the_single_writer_pool(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("everything")
    pools = {node.name: node.definition.pool for node in job.graph.node_dict.values()}
    assert pools and set(pools.values()) == {"warehouse"}, pools


def test_live_mode_without_google_settings_has_no_simulator(
    tmp_path: Path, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    defs = build_definitions(load_settings(flywheel_home=tmp_path, flywheel_source="live"))
    keys = {spec.key.to_user_string() for spec in _specs(defs)}
    assert "demo/business" not in keys
    assert "raw/ga4_traffic_acquisition" in keys


def test_project_instance_limits_the_warehouse_pool_to_one(tmp_path: Path) -> None:
    """The Makefile's DAGSTER_HOME (dagster_home/) serialises every warehouse writer."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    repo_config = Path(__file__).resolve().parents[1] / "dagster_home" / "dagster.yaml"
    (home / "dagster.yaml").write_text(repo_config.read_text())
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_building_the_definitions_prints_no_dagster_warning(
    tmp_path: Path, dbt_manifest: Path
) -> None:
    """Every `flywheel` command builds them: a warning there greets every user."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_definitions(load_settings(flywheel_home=tmp_path, flywheel_source="demo"))
    assert [str(w.message) for w in caught if issubclass(w.category, dg.BetaWarning)] == []
