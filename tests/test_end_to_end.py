"""The whole wheel on a small demo business, in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from flywheel_pipeline.definitions import build_definitions
from flywheel_pipeline.runner import whole_history_tags
from flywheel_pipeline.warehouse import connect
from tests.support import demo_settings

SCHEMAS = ("raw", "staging", "attract", "engage", "delight", "advocate", "flywheel", "ml")
VOLATILE = {"_loaded_at"}  # lineage timestamps of the load itself


def _run_everything(home: Path) -> dg.ExecuteInProcessResult:
    settings = demo_settings(home)
    job = build_definitions(settings).resolve_job_def("everything")
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags=whole_history_tags(job.partitions_def),
        raise_on_error=False,
    )


def _snapshot(database: Path) -> dict[str, pd.DataFrame]:
    with connect(database, read_only=True) as conn:
        tables = conn.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database() and schema_name in (select unnest(?)) "
            "order by 1, 2",
            [list(SCHEMAS)],
        ).fetchall()
        snapshot = {}
        for schema, table in tables:
            frame = conn.execute(f"select * from {schema}.{table}").df()
            frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
            snapshot[f"{schema}.{table}"] = frame.sort_values(list(frame.columns)).reset_index(
                drop=True
            )
    return snapshot


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Path:
    home = tmp_path_factory.mktemp("demo")
    result = _run_everything(home)
    failures = [e.message for e in result.all_events if e.is_failure]
    assert result.success, failures
    return home


@pytest.mark.slow
def test_every_flywheel_schema_has_non_empty_tables(demo_home: Path) -> None:
    snapshot = _snapshot(demo_home / "warehouse" / "warehouse.duckdb")
    for schema in SCHEMAS:
        tables = {name: len(frame) for name, frame in snapshot.items() if name.startswith(schema)}
        assert tables and any(tables.values()), f"{schema} is empty: {tables}"
    assert len(snapshot["flywheel.recommendations"]) > 0
    assert len(snapshot["engage.conversation_topics"]) >= 5


@pytest.mark.slow
def test_report_and_serving_copy_are_published(demo_home: Path) -> None:
    report = (demo_home / "reports" / "flywheel.html").read_text()
    assert "plotly" in report.lower() and "Recommendations" in report
    assert "<script src=" not in report  # self-contained: no network needed to open it
    with duckdb.connect(str(demo_home / "serving" / "marts.duckdb"), read_only=True) as conn:
        assert conn.execute("select count(*) from engage.leads").fetchone()[0] > 0


@pytest.mark.slow
def test_the_warehouse_opens_the_obvious_way(demo_home: Path) -> None:
    """No catalog named like a schema: `flywheel.momentum` is not ambiguous."""
    with duckdb.connect(str(demo_home / "warehouse" / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("select count(*) from flywheel.momentum").fetchone()[0] > 0


@pytest.mark.slow
def test_rerun_leaves_identical_tables(demo_home: Path) -> None:
    before = _snapshot(demo_home / "warehouse" / "warehouse.duckdb")
    assert _run_everything(demo_home).success
    after = _snapshot(demo_home / "warehouse" / "warehouse.duckdb")
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


@pytest.mark.slow
def test_every_model_metric_is_classified_and_search_opportunities_are_reported(
    demo_home: Path,
) -> None:
    with connect(demo_home / "warehouse" / "warehouse.duckdb", read_only=True) as conn:
        runs = conn.execute("select model, metric, metric_kind from flywheel.model_runs").df()
    assert "search_ctr_curve" in set(runs["model"])
    # a metric in none of the dbt vars' lists would never count as model quality
    unclassified = runs[runs["metric_kind"].isna()]
    assert unclassified.empty, f"classify in dbt_project.yml: {unclassified.to_dict('records')}"
    report = (demo_home / "reports" / "flywheel.html").read_text()
    assert "Attract: search opportunities" in report
