"""Operations: the whole pipeline's job and daily schedule, the HTML report, the serving copy
and the open actions as files, republished after the marts change. Each domain brings its own
checks, jobs, schedules and sensors (the landing sensor and the raw-asset checks: sources/;
the weekly retrain: insights/)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from flywheel_pipeline.operations.actions import actions_asset
from flywheel_pipeline.operations.automation import (
    daily_schedule,
    everything,
    publish_sensor,
    with_publish_automation,
)
from flywheel_pipeline.operations.report import report_asset
from flywheel_pipeline.operations.serving import MART_SCHEMAS, serving_copy_asset
from flywheel_pipeline.settings import Settings
from flywheel_pipeline.sources.source_health import google_sources, unconfigured


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """The executor FLYWHEEL_EXECUTOR names. In process by default: warehouse steps run one at
    a time anyway (single DuckDB writer), so a step per process would only add a code-location
    load per step (~10 s each); the pool still serialises steps across concurrent runs.
    `multiprocess` is Dagster's own default executor (a process per step, or in process when
    a run's config says `execution: config: in_process: {}`)."""
    if settings.flywheel_executor == "multiprocess":
        return dg.multi_or_in_process_executor
    return dg.in_process_executor


def build_defs(
    settings: Settings,
    upstream: Sequence[dg.AssetKey],
    partitions: dg.PartitionsDefinition,
    warehouse: dg.Definitions | None = None,
) -> dg.Definitions:
    """`upstream` are the warehouse assets: the report and serving copy come after the marts.
    `partitions` are the Google sources' days, restated by the
    daily schedule. `warehouse` (the definitions of the warehouse assets) tells the report
    what is built on each Google source, to flag it when that source's extraction failed."""
    marts = [key for key in upstream if key.path[0] in MART_SCHEMAS]
    present = set(upstream)
    sources = [(label, key) for label, key in google_sources(settings) if key in present]
    graph = warehouse.resolve_asset_graph() if warehouse is not None else None
    downstream = {
        key: sorted(dg.AssetSelection.assets(key).downstream().resolve(graph) - {key})
        for _, key in sources
        if graph is not None
    }
    report = report_asset(marts, sources, downstream, unconfigured(settings))
    return dg.Definitions(
        assets=with_publish_automation([report, serving_copy_asset(marts), actions_asset()]),
        jobs=[everything],
        schedules=[daily_schedule(partitions)],
        sensors=[publish_sensor],
        executor=executor_for(settings),
    )
