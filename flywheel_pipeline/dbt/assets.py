"""Every dbt model, seed and test as Dagster assets and checks.

The project runs in two invocations around the insight assets: first everything that does
not read a model output (`source:ml`), then the marts that join model outputs and what is
downstream of them. Two explicit steps keep the graph acyclic and cost two dbt start-ups.

Every model's materialisation carries `dagster/row_count` and `dagster/column_schema`, read
from the warehouse once dbt has exited (see `_build`).
"""

import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtCliRuntimeError,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from flywheel_pipeline.dbt.launcher import mark_parent
from flywheel_pipeline.dbt.project import (
    DBT_EXECUTABLE,
    dbt_project,
    ensure_manifest,
    invocation_target,
    keep_partial_parse,
    warehouse_vars,
)
from flywheel_pipeline.dbt.translator import FlywheelDbtTranslator
from flywheel_pipeline.metadata import column_schema_metadata, table_metadata
from flywheel_pipeline.settings import Settings
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, connect, memory_limit

logger = logging.getLogger(__name__)

FED_BY_INSIGHTS = "source:ml+"

translator = FlywheelDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_code_references=True)
)


def node_relation(node: Mapping[str, Any]) -> str:
    """`schema.alias` of a manifest node: where dbt wrote it in the warehouse catalog."""
    return f"{node['schema']}.{node.get('alias') or node['name']}"


def event_relation(event: object, manifest: Mapping[str, Any]) -> str | None:
    """The relation a dbt model/seed/snapshot materialisation event is about, else None."""
    if not isinstance(event, dg.Output | dg.AssetMaterialization):
        return None
    unique_id = event.metadata.get("unique_id")
    unique_id = getattr(unique_id, "value", unique_id)
    node = manifest.get("nodes", {}).get(unique_id) if isinstance(unique_id, str) else None
    return node_relation(node) if node is not None else None


def with_relation_metadata(
    events: Iterable[Any],
    manifest: Mapping[str, Any],
    metadata_by_relation: Mapping[str, Mapping[str, Any]],
) -> Iterator[Any]:
    """`events` in order, each materialisation with its relation's metadata merged over what
    dagster-dbt put there."""
    for event in events:
        relation = event_relation(event, manifest)
        extra = metadata_by_relation.get(relation) if relation is not None else None
        yield event.with_metadata({**event.metadata, **extra}) if extra else event


# The connection that reads row counts after a build gets dbt's own memory_limit
# (profiles.yml) and spills past it: without one, DuckDB may cache up to 80 % of RAM, and
# counting the staging views (each one deduplicates its whole source again) took 13 GB at
# demo scale 1000.
METADATA_MEMORY_LIMIT = "1GB"
# A view's count runs its query; one that takes longer than this (a view over tens of
# millions of rows) is given up and the view is recorded without a row count. Every count
# takes well under a second at demo scale 100.
METADATA_COUNT_TIMEOUT_S = 20.0


def relations_metadata(
    path: str,
    relations: Iterable[str],
    *,
    limit: str = METADATA_MEMORY_LIMIT,
    count_timeout: float | None = METADATA_COUNT_TIMEOUT_S,
    log: logging.Logger | dg.DagsterLogManager = logger,
) -> dict[str, dict]:
    """Row count and column schema of each relation, read-only, in one connection.

    A count that fails (out of memory, interrupted after `count_timeout` seconds) costs only
    that relation its row count: it keeps its column schema, and the failure is logged."""
    metadata: dict[str, dict] = {}
    with connect(path, read_only=True) as conn, memory_limit(conn, limit):
        for relation in sorted(set(relations)):
            try:
                metadata[relation] = table_metadata(conn, relation, count_timeout=count_timeout)
            except duckdb.Error as exc:
                log.warning(f"{relation}: row count not recorded: {exc}")
                metadata[relation] = column_schema_metadata(conn, relation)
    return metadata


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    project: DbtProject,
):
    mark_parent()  # dbt (through flywheel-dbt) dies with this process, even killed outright
    database = Path(warehouse.path).resolve()
    # Named as dagster-dbt names its own target folders, but under the project's target folder
    # whatever the environment says (an installed package's is under FLYWHEEL_HOME).
    op, run = context.op_execution_context.op.name, context.run.run_id[:7]
    target = invocation_target(project, f"{op}-{run}-{uuid.uuid4().hex[:7]}", database)
    invocation = dbt.cli(["build", *warehouse_vars(database)], context=context, target_path=target)
    # dagster-dbt's fetch_row_counts() queries through dbt's adapter while dbt still holds
    # DuckDB's single-writer lock, and skips views (most staging models are views). So the
    # events are held until dbt has exited, then every built relation is counted read-only
    # (about a second for the whole project at demo scale; capped in memory and per view in
    # time at larger scales, see relations_metadata) and the events go out in order.
    events: list[Any] = []
    failure: DagsterDbtCliRuntimeError | None = None
    try:
        events.extend(invocation.stream())
    except DagsterDbtCliRuntimeError as exc:  # what dbt did build still gets recorded
        failure = exc
    try:
        keep_partial_parse(project, target, database)
    except OSError as exc:  # only saves the next build a few seconds
        context.log.warning(f"partial parse not kept for the next build: {exc}")
    manifest = invocation.manifest
    relations = [r for r in (event_relation(e, manifest) for e in events) if r is not None]
    started = time.monotonic()
    try:
        metadata = (
            relations_metadata(warehouse.path, relations, log=context.log) if relations else {}
        )
    except Exception as exc:  # metadata must never fail a build that succeeded
        context.log.warning(f"row counts and column schemas not recorded: {exc}")
        metadata = {}
    context.log.info(
        f"row counts and column schemas of {len(metadata)} relations "
        f"in {time.monotonic() - started:.2f} s"
    )
    yield from with_relation_metadata(events, manifest, metadata)
    if failure is not None:
        raise failure


def build_defs(settings: Settings) -> dg.Definitions:
    """The dbt assets of the project as it is now: parsed first when a model changed."""
    project = dbt_project(settings.home)
    manifest = ensure_manifest(settings)

    # the two dbt assets split one project: the same manifest, translator and pool
    shared = {
        "manifest": manifest,
        "project": project,
        "dagster_dbt_translator": translator,
        "pool": WAREHOUSE_POOL,
    }

    @dbt_assets(**shared, exclude=FED_BY_INSIGHTS, name="dbt_warehouse")
    def dbt_warehouse(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        """Staging, intermediate and the marts built from sources alone."""
        yield from _build(context, dbt, warehouse, project)

    @dbt_assets(**shared, select=FED_BY_INSIGHTS, name="dbt_insight_marts")
    def dbt_insight_marts(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        """The marts that join model outputs (topics, scores, recommendations) and their
        dependants."""
        yield from _build(context, dbt, warehouse, project)

    return dg.Definitions(
        assets=[dbt_warehouse, dbt_insight_marts],
        resources={"dbt": DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)},
    )
