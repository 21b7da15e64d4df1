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


def test_every_asset_has_an_owner_and_stage_and_layer_tags(defs: dg.Definitions) -> None:
    specs = {spec.key.to_user_string(): spec for spec in _specs(defs)}
    assert all(list(spec.owners) == ["team:data"] for spec in specs.values())
    assert all({"stage", "layer"} <= set(spec.tags) for spec in specs.values())
    assert specs["engage/leads"].tags["stage"] == "engage"  # dbt, via the translator
    assert specs["engage/leads"].tags["layer"] == "marts"
    assert specs["ml/lead_scores"].tags == {**specs["ml/lead_scores"].tags, "layer": "ml"}
    assert specs["raw/crm_orders"].tags["layer"] == "raw"
    assert specs["staging/stg_crm__orders"].tags["stage"] == "foundation"


def test_raw_and_ml_tables_name_their_relation(defs: dg.Definitions) -> None:
    specs = {spec.key.to_user_string(): spec for spec in _specs(defs)}
    raw_ml = [spec for key, spec in specs.items() if key.split("/")[0] in ("raw", "ml")]
    assert raw_ml
    for spec in raw_ml:
        assert spec.metadata["dagster/table_name"] == "warehouse." + ".".join(spec.key.path)


def test_python_assets_link_to_their_code(
    tmp_path: Path, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    local = build_definitions(load_settings(flywheel_home=tmp_path, flywheel_source="demo"))
    linked = build_definitions(
        load_settings(
            flywheel_home=tmp_path,
            flywheel_source="demo",
            flywheel_owner="ana@shop.example",
            flywheel_git_url="https://github.com/acme/flywheel",
            flywheel_git_branch="release",
        )
    )
    key = dg.AssetKey(["raw", "crm_orders"])
    (reference,) = (
        local.resolve_assets_def(key)
        .specs_by_key[key]
        .metadata["dagster/code_references"]
        .code_references
    )
    assert reference.file_path.endswith("flywheel_pipeline/sources/files/assets.py")
    spec = linked.resolve_assets_def(key).specs_by_key[key]
    (url,) = spec.metadata["dagster/code_references"].code_references
    assert url.url.startswith(
        "https://github.com/acme/flywheel/tree/release/flywheel_pipeline/sources/files/assets.py#L"
    )
    assert list(spec.owners) == ["ana@shop.example"]
    dbt_key = dg.AssetKey(["engage", "leads"])
    (dbt_url,) = (
        linked.resolve_assets_def(dbt_key)
        .specs_by_key[dbt_key]
        .metadata["dagster/code_references"]
        .code_references
    )
    assert dbt_url.url.endswith("dbt_project/models/marts/engage/leads.sql")
