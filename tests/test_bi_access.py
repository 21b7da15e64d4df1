"""What a BI tool sees (docs/bi.md): every mart read through SQLAlchemy (duckdb-engine) while
a pipeline run writes, a new build on the same open connection, dbt's descriptions as
comments, an enforced contract on every mart, the warehouse itself, and `make docs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from flywheel_pipeline.cli import record_decision
from flywheel_pipeline.dbt.project import DBT_PROJECT_DIR
from flywheel_pipeline.operations.serving import SERVING_DATABASE
from tests.support import demo_settings
from tests.test_dbt_contract import SPEC_MARTS
from tests.test_end_to_end import _run_everything

REPO = DBT_PROJECT_DIR.parent


def _models(manifest_path: Path) -> dict[str, dict]:
    manifest = json.loads(manifest_path.read_text())
    return {
        f"{node['schema']}.{node['alias']}": node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def test_every_mart_has_an_enforced_contract_with_typed_columns(dbt_manifest: Path) -> None:
    models = _models(dbt_manifest)
    for relation in SPEC_MARTS:
        node = models[relation]
        enforced = node["config"]["contract"]["enforced"]
        assert enforced, f"{relation}: contract not enforced"
        untyped = [name for name, column in node["columns"].items() if not column["data_type"]]
        assert node["columns"] and not untyped, f"{relation}: columns without data_type {untyped}"


def serving_url(home: Path) -> sa.URL:
    """The SQLAlchemy URL docs/bi.md gives: duckdb:////<home>/serving/marts.duckdb?access_mode=read_only"""
    database = str(home / "serving" / SERVING_DATABASE)
    return sa.URL.create("duckdb", database=database, query={"access_mode": "read_only"})


@pytest.fixture(scope="module")
def bi_home(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Path:
    """A small demo, every asset materialised once: the warehouse and its serving copy."""
    home = tmp_path_factory.mktemp("bi")
    result = _run_everything(home)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return home


@pytest.mark.slow
def test_the_warehouse_opens_with_a_plain_connect(bi_home: Path) -> None:
    """No catalog named like a schema: `flywheel.momentum` is not ambiguous."""
    with duckdb.connect(str(bi_home / "warehouse" / "warehouse.duckdb")) as conn:
        assert conn.execute("select count(*) from flywheel.momentum").fetchone()[0] > 0


@pytest.mark.slow
def test_dbt_descriptions_are_comments_in_the_serving_file(
    bi_home: Path, dbt_manifest: Path
) -> None:
    momentum = _models(dbt_manifest)["flywheel.momentum"]
    with duckdb.connect(str(bi_home / "serving" / SERVING_DATABASE), read_only=True) as conn:
        views = conn.execute(
            "select schema_name || '.' || view_name from duckdb_views() where not internal"
        ).fetchall()
        assert {name for (name,) in views} == set(SPEC_MARTS)
        comment = conn.execute(
            "select comment from duckdb_views() "
            "where schema_name = 'flywheel' and view_name = 'momentum'"
        ).fetchone()[0]
        column = conn.execute(
            "select comment from duckdb_columns() where schema_name = 'flywheel' "
            "and table_name = 'momentum' and column_name = 'period_type'"
        ).fetchone()[0]
    assert comment == momentum["description"].strip()
    assert column == momentum["columns"]["period_type"]["description"].strip()


# The second build: the decisions file and everything downstream of it (insights, dbt models,
# the serving copy; not the HTML report, which BI tools do not read).
SECOND_BUILD = """
import sys
from pathlib import Path

import dagster as dg

from flywheel_pipeline.definitions import build_definitions
from flywheel_pipeline.runner import select_assets, whole_history_tags
from tests.support import demo_settings

definitions = build_definitions(demo_settings(Path(sys.argv[1])))
job = definitions.resolve_job_def("everything")
keys = select_assets(definitions, 'key:"raw/decisions"+ and not key:"reports/*"')
assert dg.AssetKey(["serving", "marts"]) in keys, keys
result = job.execute_in_process(
    instance=dg.DagsterInstance.ephemeral(),
    tags=whole_history_tags(job.partitions_def),
    asset_selection=keys,
    raise_on_error=False,
)
sys.exit(0 if result.success else 1)
"""


def _read_every_mart(connection: sa.Connection, marts: list[tuple[str, str]]) -> None:
    for schema, name in marts:
        connection.execute(sa.text(f'select * from "{schema}"."{name}" limit 100')).fetchall()
        connection.execute(sa.text(f'select count(*) from "{schema}"."{name}"')).scalar_one()


@pytest.mark.slow
def test_every_mart_reads_through_sqlalchemy_while_the_pipeline_writes(bi_home: Path) -> None:
    serving = bi_home / "serving"
    view_file = (serving / SERVING_DATABASE).stat().st_ino
    first_version = (serving / "parquet").resolve()
    engine = sa.create_engine(serving_url(bi_home))
    status = sa.text("select status from flywheel.recommendations where recommendation_id = :id")
    with engine.connect() as writer, pytest.raises(sa.exc.DBAPIError, match="read-only"):
        writer.execute(sa.text("create table flywheel.scratch as select 1"))
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        marts = [
            (schema.split(".")[-1], view)
            for schema in inspector.get_schema_names()
            for view in inspector.get_view_names(schema=schema)
        ]
        assert {f"{schema}.{view}" for schema, view in marts} == set(SPEC_MARTS)
        top = connection.execute(
            sa.text("select recommendation_id from flywheel.recommendations order by priority")
        ).first()[0]
        assert connection.execute(status, {"id": top}).scalar_one() == "proposed"

        record_decision(demo_settings(bi_home), top, "accepted", "BI test")
        # the build's log goes to a file: a pipe nobody reads while the build runs fills up
        # (64 KiB) and blocks the build
        build_log = bi_home / "second_build.log"
        with build_log.open("w") as log:
            build = subprocess.Popen(
                [sys.executable, "-c", SECOND_BUILD, str(bi_home)],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        errors: list[str] = []
        passes = 0
        started = time.monotonic()
        while build.poll() is None and time.monotonic() - started < 600:
            try:
                _read_every_mart(connection, marts)
                passes += 1
            except Exception as exc:  # any failure while the pipeline writes is the finding
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.2)  # a dashboard's pace, leaving the build its share of the CPU
        build.wait(timeout=60)
        assert build.returncode == 0, build_log.read_text()[-3000:]
        assert not errors, errors[:3]
        assert passes >= 2, "the build finished before the reads overlapped it"

        # the new build, on the connection opened before it
        assert (serving / "parquet").resolve() != first_version
        _read_every_mart(connection, marts)
        assert connection.execute(status, {"id": top}).scalar_one() == "accepted"
    # nothing the views declare changed, so the file was left as it was
    assert (serving / SERVING_DATABASE).stat().st_ino == view_file


@pytest.mark.slow
def test_make_docs_writes_a_self_contained_page(bi_home: Path) -> None:
    env = {
        **os.environ,
        "FLYWHEEL_HOME": str(bi_home),
        "FLYWHEEL_DUCKDB_PATH": str(bi_home / "warehouse" / "warehouse.duckdb"),
    }
    # -o: the venv running this test is installed; make must not reinstall it
    subprocess.run(
        ["make", "-o", ".venv/.installed", "docs"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    page = (bi_home / "docs" / "index.html").read_text()
    assert "<script src=" not in page and 'rel="stylesheet" href="http' not in page
    # the manifest and the warehouse's catalog are inlined, not fetched beside the page
    assert "The wheel's momentum" in page
    assert '"type": "BASE TABLE"' in page
    # dbt's page loads its usage tracker from the network unless the manifest says no
    assert '"send_anonymous_usage_stats": false' in page
