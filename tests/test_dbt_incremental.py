"""The incremental daily facts equal a full refresh after new days and restatements.

In the style of dbt packages' integration tests: a small raw warehouse from the demo
simulator, written with the real loaders (so raw tables have their real shape), a first full
build, incremental runs that add days AND restate the trailing days (GA4 and Search Console
revise the last 72 h), then a `--full-refresh` build of the same data that every incremental
table must equal row for row. A few dbt invocations only: each one costs several seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from flywheel_pipeline.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from flywheel_pipeline.sources.demo import DemoBusiness, DemoConfig, simulate, write_landing_files
from flywheel_pipeline.sources.files.conversations import load_conversations
from flywheel_pipeline.sources.files.schemas import CRM_TABLES
from flywheel_pipeline.sources.files.tables import load_table
from flywheel_pipeline.sources.ga4 import extract as ga4_extract
from flywheel_pipeline.sources.report_file import load_reports
from flywheel_pipeline.sources.search_console import extract as gsc_extract
from flywheel_pipeline.warehouse import connect, replace_table

# model -> its grain (the compare sorts by it, the not-restated check keys on it)
INCREMENTAL_MODELS = {
    "attract.traffic_daily": [
        "date",
        "channel_group",
        "source",
        "medium",
        "campaign",
        "landing_page",
        "device",
    ],
    "attract.search_queries_daily": ["date", "query", "page", "country", "device"],
}
# the models and their upstream; only the tests whose parents are all selected (cautious)
BUILD_INCREMENTAL = [
    "build",
    "--select",
    "+traffic_daily",
    "+search_queries_daily",
    "--indirect-selection",
    "cautious",
]
LOOKBACK_DAYS = 3  # the project var's default, the sources' restatement window
# An incremental run reprocesses max(date) - 3 … max(date), four days. The simulated sources
# revise all four (one more than GA4's 72 h) so that an off-by-one in the window fails too.
RESTATED_DAYS = LOOKBACK_DAYS + 1


# --- raw warehouse from the demo simulator ---------------------------------------------------


@dataclass(frozen=True)
class Extract:
    """What one daily extraction sees: history `start`..`through`, the last
    `preliminary_days` not final yet (values revised later, some rows extra or missing)."""

    through: dt.date
    start: dt.date | None = None
    preliminary_days: int = RESTATED_DAYS
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1))


def _preliminary(frame: pd.DataFrame, metrics: Sequence[str], first: pd.Timestamp) -> pd.DataFrame:
    """Days from `first` on as a source shows them before they settle: metrics ~20 % low,
    every 7th row not reported yet, and every 11th row reported twice under a placeholder
    key ('(other)' row) that disappears once the day is final."""
    late = (frame["date"] >= first).to_numpy()
    settled, fresh = frame[~late], frame[late].copy()
    fresh = fresh.reset_index(drop=True)
    for column in metrics:
        revised = fresh[column] * 0.8
        fresh[column] = revised.round() if fresh[column].dtype.kind in "iu" else revised
        fresh[column] = fresh[column].astype(frame[column].dtype)
    parts = [fresh[fresh.index % 7 != 3]]
    key = next((c for c in ("landing_page", "query") if c in fresh), None)
    if key is not None:
        extra = fresh[fresh.index % 11 == 0].copy()
        extra[key] = "(other)"
        parts.append(extra)
    dims = [c for c in frame.columns if c not in metrics]
    fresh = pd.concat(parts, ignore_index=True).drop_duplicates(subset=dims)  # one row a key
    return pd.concat([settled, fresh], ignore_index=True)


def _window(frame: pd.DataFrame, extract: Extract, metrics: Sequence[str]) -> pd.DataFrame:
    dates = frame["date"]
    keep = dates <= pd.Timestamp(extract.through)
    if extract.start is not None:
        keep &= dates >= pd.Timestamp(extract.start)
    window = frame[keep.to_numpy()]
    if extract.preliminary_days:
        first = pd.Timestamp(extract.through) - pd.Timedelta(days=extract.preliminary_days - 1)
        window = _preliminary(window, metrics, first)
    return window


def write_api_sources(business: DemoBusiness, database: Path, extract: Extract) -> None:
    """raw.ga4_* and raw.gsc_search_analytics as the extraction assets write them."""
    with connect(database) as conn:
        for report in load_reports().ga4:
            frame = business.ga4[report.table.removeprefix("ga4_")]
            metrics = [*report.integer_columns, *report.float_columns]
            page = ga4_extract.ReportPage(
                _window(frame, extract, metrics), request_id=f"test:{report.table}", page=0
            )
            rows = ga4_extract.to_raw_rows(report, iter([page]), extract.loaded_at)
            replace_table(conn, f"raw.{report.table}", rows)
        gsc = _window(business.gsc, extract, ["clicks", "impressions", "ctr", "position"])
        page = gsc_extract.QueryPage(gsc, request_id="test:gsc", page=0, data_state="all")
        [report] = load_reports().search_console
        rows = gsc_extract.to_raw_rows(report, iter([page]), extract.loaded_at)
        replace_table(conn, f"raw.{report.table}", rows)


def write_file_sources(business: DemoBusiness, database: Path, landing: Path) -> None:
    """raw.crm_* and raw.conversations/_messages through the landing files and loaders."""
    write_landing_files(business, landing)
    loaded_at = dt.datetime(2026, 1, 1)
    with connect(database) as conn:
        for table in CRM_TABLES:
            replace_table(conn, table.relation, load_table(table, landing, loaded_at).rows)
        conversations = load_conversations(landing, loaded_at)
        replace_table(conn, "raw.conversations", conversations.conversations)
        replace_table(conn, "raw.conversation_messages", conversations.messages)


# --- dbt, programmatically -------------------------------------------------------------------


def dbt_invoke(
    args: Sequence[str], database: Path, target_path: Path, project_dir: Path = DBT_PROJECT_DIR
) -> list[str]:
    """One dbt invocation against `database`, its artefacts in `target_path` (never the
    project's own target/, which the pipeline and other runs use). Raises when dbt errors or
    a model fails; returns the data tests that failed, for the caller to assert on.
    `project_dir` points at another copy of the project (tests that break models on purpose).

    dbt runs as a subprocess, as the pipeline runs it, so its DuckDB handle is gone when it
    returns and this process can open the file."""
    results_file = target_path / "run_results.json"
    results_file.unlink(missing_ok=True)
    command = [
        DBT_EXECUTABLE,
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path / "logs"),
        "--quiet",
    ]
    env = {**os.environ, "FLYWHEEL_DUCKDB_PATH": str(database)}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if not results_file.exists():
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{completed.stdout}{completed.stderr}")
    failed_tests, failed_nodes = [], []
    for node in json.loads(results_file.read_text())["results"]:
        if node["status"] in ("success", "pass", "no-op"):  # no-op: exposures
            continue
        line = f"{node['unique_id']}: {node['status']} {node.get('message')}"
        is_test = node["unique_id"].startswith(("test.", "unit_test."))
        (failed_tests if is_test else failed_nodes).append(line)
    assert not failed_nodes, f"dbt {' '.join(args)} failed: {failed_nodes}"
    return failed_tests


# --- comparison ------------------------------------------------------------------------------


def _comparable(conn: duckdb.DuckDBPyConnection, relation: str) -> str:
    """`select` of a relation with doubles rounded (sums in another order differ in the last
    bits), so EXCEPT compares values, not float noise."""
    schema, table = relation.split(".")
    columns = conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    exprs = [
        f"round({name}, 9) as {name}" if kind in ("DOUBLE", "FLOAT") else name
        for name, kind in columns
    ]
    return f"select {', '.join(exprs)} from {relation}"


def differences(database: Path, left: str, right: str, grain: list[str]) -> pd.DataFrame:
    """Rows of `left` not in `right` and vice versa (multisets), tagged with their side."""
    with connect(database, read_only=True) as conn:
        a, b = _comparable(conn, left), _comparable(conn, right)
        return conn.execute(
            f"(select 'only incremental' as side, * from ({a} except all {b})) "
            f"union all (select 'only full refresh' as side, * from ({b} except all {a})) "
            f"order by {', '.join(grain)}, side"
        ).df()


def snapshot(database: Path, relations: Sequence[str], schema: str) -> None:
    with connect(database) as conn:
        conn.execute(f"create schema if not exists {schema}")
        for relation in relations:
            table = relation.split(".")[1]
            conn.execute(f"create or replace table {schema}.{table} as select * from {relation}")


def scalar(database: Path, sql: str):
    with connect(database, read_only=True) as conn:
        return conn.execute(sql).fetchone()[0]


# --- the test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def incremental_warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Raw → full build → two incremental builds (new days + restated trailing days, and a
    backfill of older history) → snapshot → full refresh of the same raw data."""
    root = tmp_path_factory.mktemp("dbt_incremental")
    database, target = root / "flywheel.duckdb", root / "target"
    business = simulate(DemoConfig(seed=11, scale=0.2, days=40))
    end = business.data_through
    day = dt.timedelta(days=1)
    extracts = [
        # first load: history from day 6 only (older history is backfilled later)
        Extract(through=end - 10 * day, start=end - 33 * day),
        # four new days; the three preliminary days of the first load are now final
        Extract(through=end - 6 * day, start=end - 33 * day, loaded_at=dt.datetime(2026, 1, 2)),
        # two new days, and the full history (a backfill of days 1-6)
        Extract(through=end - 4 * day, loaded_at=dt.datetime(2026, 1, 3)),
    ]
    write_api_sources(business, database, extracts[0])
    failed_tests = dbt_invoke(BUILD_INCREMENTAL, database, target)
    snapshot(database, INCREMENTAL_MODELS, "first_build")
    for extract in extracts[1:]:
        write_api_sources(business, database, extract)
        # `build`: the data tests (grain, reconciliation) run on every incremental result
        failed_tests += dbt_invoke(BUILD_INCREMENTAL, database, target)
    snapshot(database, INCREMENTAL_MODELS, "incremental")
    dbt_invoke(
        ["run", "--full-refresh", "--select", *(m.split(".")[1] for m in INCREMENTAL_MODELS)],
        database,
        target,
    )
    return {
        "database": database,
        "target": target,
        "extracts": extracts,
        "failed_tests": failed_tests,
    }


@pytest.mark.slow
def test_data_tests_pass_on_every_incremental_build(incremental_warehouse: dict) -> None:
    assert incremental_warehouse["failed_tests"] == []


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(INCREMENTAL_MODELS))
def test_incremental_equals_full_refresh(incremental_warehouse: dict, model: str) -> None:
    database = incremental_warehouse["database"]
    table = model.split(".")[1]
    diff = differences(database, f"incremental.{table}", model, INCREMENTAL_MODELS[model])
    assert diff.empty, (
        f"{model}: incremental differs from full refresh in {len(diff)} rows, on dates "
        f"{sorted(diff['date'].astype(str).unique())}:\n{diff.head(20).to_string()}"
    )
    assert scalar(database, f"select count(*) from {model}") > 0


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(INCREMENTAL_MODELS))
def test_scenario_exercises_restatement_and_backfill(
    incremental_warehouse: dict, model: str
) -> None:
    """Guards the test itself: the first build's preliminary days really changed, and the
    incremental runs really had to add new days and older history."""
    database, extracts = incremental_warehouse["database"], incremental_warehouse["extracts"]
    table = model.split(".")[1]
    first = extracts[0]
    diff = differences(database, f"first_build.{table}", model, INCREMENTAL_MODELS[model])
    changed = {d for d in pd.to_datetime(diff["date"]).dt.date if first.start <= d <= first.through}
    assert changed == {first.through - dt.timedelta(days=i) for i in range(RESTATED_DAYS)}
    span = {name: scalar(database, f"select {name}(date) from {model}") for name in ("min", "max")}
    assert span["min"] < first.start and span["max"] > first.through  # backfill, new days
    days = scalar(database, f"select count(distinct date) from {model}")
    assert days == (span["max"] - span["min"]).days + 1  # no hole


@pytest.mark.slow
def test_docs_generate_and_exposures(incremental_warehouse: dict) -> None:
    database, target = incremental_warehouse["database"], incremental_warehouse["target"]
    dbt_invoke(["docs", "generate"], database, target)
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.flywheel.traffic_daily" in catalog["nodes"]
    manifest = json.loads((target / "manifest.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == {"flywheel_html_report", "bi_serving_copy"}
    report = set(exposures["flywheel_html_report"]["depends_on"]["nodes"])
    assert {"model.flywheel.stages_daily", "model.flywheel.channel_daily"} <= report
    marts = {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["path"].startswith("marts")
    }
    assert set(exposures["bi_serving_copy"]["depends_on"]["nodes"]) == marts
