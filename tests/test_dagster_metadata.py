"""What the Dagster catalog shows: row counts and column schemas on materialisations, table
names, owners, stage/layer tags, code references, the executor and the warehouse resource."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import pandas as pd
import pytest

from flywheel_pipeline.dbt.assets import event_relation, relations_metadata, with_relation_metadata
from flywheel_pipeline.metadata import (
    frame_metadata,
    stage_tags,
    table_metadata,
    warehouse_table_name,
)
from flywheel_pipeline.warehouse import (
    WarehouseResource,
    connect,
    fetch_row,
    fetch_value,
    relation_exists,
    replace_table,
)

MANIFEST = {
    "nodes": {
        "model.flywheel.stg_a": {"schema": "staging", "name": "stg_a", "alias": "stg_a"},
        "seed.flywheel.groups": {"schema": "staging", "name": "groups", "alias": None},
    }
}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with connect(path) as conn:
        conn.execute("create schema staging")
        conn.execute("create table staging.groups as select range as id from range(3)")
        conn.execute("create view staging.stg_a as select id, 'x' as label from staging.groups")
    return path


def test_table_metadata_counts_views_and_tables(warehouse: Path) -> None:
    with connect(warehouse, read_only=True) as conn:
        view = table_metadata(conn, "staging.stg_a")
        table = table_metadata(conn, "staging.groups")
        missing = table_metadata(conn, "staging.nope")
    assert view["dagster/row_count"].value == 3 and table["dagster/row_count"].value == 3
    columns = view["dagster/column_schema"].value.columns
    assert [(c.name, c.type) for c in columns] == [("id", "bigint"), ("label", "varchar")]
    assert missing == {}


def test_dbt_events_get_their_relation_metadata_in_order(warehouse: Path) -> None:
    events = [
        dg.Output(
            None, output_name="staging__stg_a", metadata={"unique_id": "model.flywheel.stg_a"}
        ),
        dg.AssetCheckResult(passed=True, asset_key=["staging", "stg_a"], check_name="not_null"),
        dg.AssetMaterialization(
            ["staging", "groups"], metadata={"unique_id": "seed.flywheel.groups"}
        ),
        dg.Output(None, output_name="other", metadata={"unique_id": "model.flywheel.gone"}),
    ]
    relations = [r for r in (event_relation(e, MANIFEST) for e in events) if r]
    assert relations == ["staging.stg_a", "staging.groups"]
    metadata = relations_metadata(str(warehouse), relations)
    enriched = list(with_relation_metadata(events, MANIFEST, metadata))
    assert [type(e) for e in enriched] == [type(e) for e in events]
    assert enriched[0].metadata["dagster/row_count"].value == 3
    assert enriched[0].metadata["unique_id"].value == "model.flywheel.stg_a"  # kept
    assert "dagster/column_schema" in enriched[2].metadata
    assert enriched[1] is events[1] and enriched[3] is events[3]


def test_frame_metadata_publishes_the_column_schema() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    schema = frame_metadata(frame)["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == ["a", "b"]


def test_stage_and_layer_tags() -> None:
    assert stage_tags(dg.AssetKey(["engage", "leads"]), "engage") == {
        "stage": "engage",
        "layer": "marts",
    }
    assert stage_tags(dg.AssetKey(["ml", "lead_scores"]), "engage")["layer"] == "ml"
    assert stage_tags(dg.AssetKey(["raw", "crm_deals"]), "sources") == {
        "stage": "foundation",
        "layer": "raw",
    }


def test_table_names_follow_the_attached_catalog() -> None:
    assert warehouse_table_name(dg.AssetKey(["raw", "ga4_pages"])) == "warehouse.raw.ga4_pages"
    assert warehouse_table_name(dg.AssetKey(["ml", "lead_scores"])) == "warehouse.ml.lead_scores"
    assert warehouse_table_name(dg.AssetKey(["reports", "flywheel_html"])) is None


def test_warehouse_resource_is_dagster_duckdbs_with_the_attached_catalog(tmp_path: Path) -> None:
    from dagster_duckdb import DuckDBResource

    legacy = tmp_path / "sub" / "flywheel.duckdb"  # named like the `flywheel` schema
    resource = WarehouseResource(path=str(legacy), connection_config={"threads": 1})
    assert isinstance(resource, DuckDBResource)
    assert resource.path == resource.database == str(legacy)
    assert WarehouseResource(database=str(legacy)).path == str(legacy)
    with resource.get_connection() as conn:
        conn.execute("create schema flywheel")
        conn.execute("create table flywheel.momentum as select 1 as x")
        assert conn.execute("select current_database()").fetchone() == ("warehouse",)
        assert conn.execute("select x from flywheel.momentum").fetchone() == (1,)
        assert conn.execute("select current_setting('threads')").fetchone() == (1,)

    @dg.asset
    def reads(warehouse: WarehouseResource) -> int:
        with warehouse.get_connection() as conn:
            return conn.execute("select count(*) from flywheel.momentum").fetchone()[0]

    result = dg.materialize([reads], resources={"warehouse": resource})
    assert result.output_for_node("reads") == 1


def test_reading_one_value_leaves_the_connection_free_for_other_work(tmp_path: Path) -> None:
    """DuckDB 2 refuses register() and sql() while a result is half-read, as fetchone()
    leaves it: the warehouse helpers read their rows to the end."""
    with connect(tmp_path / "w.duckdb") as conn:
        conn.execute("create schema s")
        conn.execute("create table s.t as select * from range(3)")
        assert fetch_value(conn, "select count(*) from s.t") == 3
        assert relation_exists(conn, "s.t")
        assert replace_table(conn, "s.u", pd.DataFrame({"x": [1, 2]})) == 2
        assert fetch_row(conn, "select * from s.t where range > ?", [5]) is None
        assert fetch_value(conn, "select * from s.t where range > ?", [5]) is None
        assert conn.sql("select count(*) from s.u").fetchall() == [(2,)]


def test_counting_a_read_only_warehouse_does_not_block_a_writer_afterwards(
    warehouse: Path,
) -> None:
    relations_metadata(str(warehouse), ["staging.stg_a"])
    with duckdb.connect(str(warehouse)) as conn:  # the read-only connection is closed
        conn.execute("create table staging.more as select 1")


def test_a_count_that_fails_or_runs_too_long_costs_only_that_row_count(
    warehouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Counting a view runs its query: one that fails (as out of memory at demo scale 1000)
    or outlasts the timeout keeps its column schema, is logged, and the rest is counted."""
    with connect(warehouse) as conn:
        conn.execute(
            "create view staging.stg_broken as "
            "select range as id from range(3) where cast('x' || range as integer) > 0"
        )
        conn.execute(
            "create view staging.stg_slow as "
            "select range as id from range(1000000000000) where hash(range) = 0"
        )
    relations = ["staging.stg_a", "staging.stg_broken", "staging.stg_slow"]
    with caplog.at_level(logging.WARNING):
        metadata = relations_metadata(str(warehouse), relations, count_timeout=0.5)
    assert metadata["staging.stg_a"]["dagster/row_count"].value == 3
    for relation in ("staging.stg_broken", "staging.stg_slow"):
        assert "dagster/row_count" not in metadata[relation]
        assert "dagster/column_schema" in metadata[relation]
        assert f"{relation}: row count not recorded" in caplog.text


def test_counts_run_under_a_memory_limit(warehouse: Path) -> None:
    """The counting connection is capped like dbt's (profiles.yml), not 80 % of RAM."""
    with connect(warehouse) as conn:
        conn.execute(
            "create view staging.stg_limit as "
            "select * from range(7) where current_setting('memory_limit') = '95.3 MiB'"
        )
    metadata = relations_metadata(str(warehouse), ["staging.stg_limit"], limit="100MB")
    assert metadata["staging.stg_limit"]["dagster/row_count"].value == 7


@pytest.mark.slow
def test_every_materialisation_of_a_warehouse_table_has_rows_and_columns(
    tmp_path: Path, dbt_manifest: Path
) -> None:
    """The acceptance check of a demo run, on a small demo business: the last
    materialisation of every dbt model and seed (views included) and of every raw and ml
    table carries `dagster/row_count` and `dagster/column_schema`."""
    from flywheel_pipeline.definitions import build_definitions
    from flywheel_pipeline.runner import whole_history_tags
    from tests.support import demo_settings

    defs = build_definitions(demo_settings(tmp_path, scale=0.1, days=90))
    job = defs.resolve_job_def("everything")
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(
        instance=instance, tags=whole_history_tags(job.partitions_def), raise_on_error=False
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    tables = [
        spec.key for spec in defs.resolve_all_asset_specs() if "dagster/table_name" in spec.metadata
    ]
    dbt = [key for key in tables if key.path[0] not in ("raw", "ml")]
    assert len(dbt) > 40 and any(key.path[0] == "raw" for key in tables)
    lacking = {}
    for key in tables:
        event = instance.get_latest_materialization_event(key)
        metadata = event.asset_materialization.metadata if event else {}
        missing = {"dagster/row_count", "dagster/column_schema"} - set(metadata)
        if missing:
            lacking[key.to_user_string()] = sorted(missing)
    assert lacking == {}
    view = instance.get_latest_materialization_event(dg.AssetKey(["staging", "stg_crm__orders"]))
    assert view.asset_materialization.metadata["dagster/row_count"].value > 0


def test_the_progress_says_when_a_dbt_build_starts() -> None:
    from flywheel_pipeline.runner import _is_dbt_step, dbt_start_line

    assert _is_dbt_step("dbt_warehouse") and not _is_dbt_step("raw__crm_orders")
    assert not _is_dbt_step(None)
    assert dbt_start_line("dbt_insight_marts").startswith("dbt_insight_marts: dbt build running")


def test_a_failed_dbt_build_still_records_what_it_built(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt exits non-zero after its last event (a failed test, a broken model): the models it
    did build are still yielded, with their counts, before the failure."""
    from dagster_dbt import DagsterDbtCliRuntimeError

    from flywheel_pipeline.dbt import assets
    from flywheel_pipeline.dbt.project import warehouse_vars

    built = dg.Output(None, output_name="stg_a", metadata={"unique_id": "model.flywheel.stg_a"})

    class Invocation:
        manifest = MANIFEST

        def stream(self):
            yield built
            raise DagsterDbtCliRuntimeError("dbt build failed")

    class Dbt:
        def cli(self, args, context, target_path):
            assert args == ["build", *warehouse_vars(warehouse.resolve())]
            assert target_path.parent == tmp_path / "target"
            return Invocation()

    class Context:
        log = logging.getLogger("test")
        op_execution_context = SimpleNamespace(op=SimpleNamespace(name="dbt_warehouse"))
        run = SimpleNamespace(run_id="0123456789")

    project = SimpleNamespace(project_dir=tmp_path, target_path=Path("target"))
    monkeypatch.setattr(assets, "mark_parent", lambda: None)
    events = []
    with pytest.raises(DagsterDbtCliRuntimeError):
        for event in assets._build(
            Context(), Dbt(), WarehouseResource(path=str(warehouse)), project
        ):
            events.append(event)
    (output,) = events
    assert output.metadata["dagster/row_count"].value == 3
