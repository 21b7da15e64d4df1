"""The Dagster wiring: it loads, validates, and follows the architecture's rules."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from flywheel_pipeline.dbt.project import PARTIAL_PARSE, invocation_target, keep_partial_parse
from flywheel_pipeline.definitions import build_definitions
from flywheel_pipeline.runner import select_assets
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
def defs(tmp_path: Path, dbt_manifest: Path) -> dg.Definitions:
    return build_definitions(load_settings(flywheel_home=tmp_path, flywheel_source="demo"))


def test_selecting_one_output_of_a_model_selects_the_outputs_computed_with_it(
    defs: dg.Definitions,
) -> None:
    keys = set(select_assets(defs, 'key:"ml/recommendation_candidates"'))
    assert keys == {
        dg.AssetKey(["ml", "recommendation_candidates"]),
        dg.AssetKey(["ml", "recommendation_targets"]),
    }
    # dbt models can be built one at a time: nothing else comes along
    assert select_assets(defs, 'key:"engage/leads"') == [dg.AssetKey(["engage", "leads"])]


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


# In a process of its own: the modules must not have been imported before.
UNTOUCHED_ENVIRONMENT = """
import os, sys
import sklearn  # sets OpenMP variables (KMP_*) on import, its own business
before = dict(os.environ)
from flywheel_pipeline.dbt.project import PARTIAL_PARSE, invocation_target, keep_partial_parse
from flywheel_pipeline.definitions import build_definitions
from flywheel_pipeline.settings import load_settings
imported = dict(os.environ)
build_definitions(load_settings(flywheel_home=sys.argv[1], flywheel_source="live"))
changed = {k for k in before.keys() | os.environ.keys() if before.get(k) != os.environ.get(k)}
print(sorted(changed), imported == before)
"""


def test_building_the_definitions_leaves_the_environment_as_it_was(
    tmp_path: Path, dbt_manifest: Path
) -> None:
    """dbt and the Google clients get the settings from their own configuration (a key file
    named in .env too); a process that loads the definitions (a code server, `flywheel`, a
    test) keeps its environment."""
    key = tmp_path / "key.json"
    key.write_text("{}")
    (tmp_path / ".env").write_text(f"GOOGLE_APPLICATION_CREDENTIALS={key}\n")
    completed = subprocess.run(
        [sys.executable, "-c", UNTOUCHED_ENVIRONMENT, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "[] True"


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
    tmp_path: Path, dbt_manifest: Path
) -> None:
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


def _code_references(defs: dg.Definitions, key: dg.AssetKey) -> list:
    spec = defs.resolve_assets_def(key).specs_by_key[key]
    return spec.metadata["dagster/code_references"].code_references


def test_python_assets_link_to_their_code(tmp_path: Path, dbt_manifest: Path) -> None:
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
    (reference,) = _code_references(local, key)
    assert reference.file_path.endswith("flywheel_pipeline/sources/files/assets.py")
    (url,) = _code_references(linked, key)
    assert url.url.startswith(
        "https://github.com/acme/flywheel/tree/release/flywheel_pipeline/sources/files/assets.py#L"
    )
    assert list(linked.resolve_assets_def(key).specs_by_key[key].owners) == ["ana@shop.example"]
    (dbt_url,) = _code_references(linked, dg.AssetKey(["engage", "leads"]))
    assert dbt_url.url.endswith("dbt_project/models/marts/engage/leads.sql")


def test_each_domain_brings_its_checks_and_automation(defs: dg.Definitions) -> None:
    checks = {
        (key.asset_key.to_user_string(), key.name)
        for checks_def in defs.asset_checks or []
        for key in checks_def.check_keys
    }
    assert ("raw/ga4_pages", "row_count_anomaly") in checks
    assert ("raw/crm_orders", "quarantine_rate") in checks
    assert ("raw/crm_orders", "files_accepted") in checks
    assert {s.name for s in defs.sensors or []} == {"landing_files", "publish_after_mart_updates"}
    assert {s.name for s in defs.schedules or []} == {"daily_ingest", "retrain_schedule"}
    for job in ("everything", "landing_refresh", "retrain"):
        assert defs.resolve_job_def(job).name == job


def test_each_warehouse_builds_from_the_partial_parse_of_its_last_build(tmp_path: Path) -> None:
    """dbt re-parses the whole project when the vars (the warehouse) differ from those of the
    partial parse it starts from: the project's own, from `dbt parse`, until a build on that
    warehouse leaves one."""
    project = SimpleNamespace(project_dir=tmp_path, target_path=Path("target"))
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / PARTIAL_PARSE).write_text("parsed")
    first = invocation_target(project, "dbt_warehouse-1", "/a.duckdb")
    assert (first / PARTIAL_PARSE).read_text() == "parsed"
    (first / PARTIAL_PARSE).write_text("built on a")
    keep_partial_parse(project, first, "/a.duckdb")
    second = invocation_target(project, "dbt_insight_marts-1", "/a.duckdb")
    assert (second / PARTIAL_PARSE).read_text() == "built on a"
    other = invocation_target(project, "dbt_warehouse-2", "/b.duckdb")
    assert (other / PARTIAL_PARSE).read_text() == "parsed"
