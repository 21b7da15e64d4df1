"""Run the `everything` job in this process, one line per materialised asset.

Shared by `flywheel demo` (the whole simulated history) and `flywheel simulate` (each cycle
extracts only its new days). dbt and Dagster write detailed logs to stdout and stderr; those go
to a log file under $FLYWHEEL_HOME/logs so the terminal shows one line per asset (and each
failure's cause).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flywheel_pipeline.settings import Settings


@dataclass(frozen=True)
class RunResult:
    success: bool
    log_path: Path


def run_everything(
    settings: Settings,
    on_progress: Callable[[str], None],
    *,
    days: tuple[dt.date, dt.date] | None = None,
    op_config: dict[str, dict] | None = None,
    log_name: str | None = None,
    ephemeral: bool = False,
    selection: str | None = None,
    catch_up: bool = False,
) -> RunResult:
    """Materialise every asset once. The partitioned sources extract ``days`` (first, last;
    default: every partition); ``op_config`` is run config per op (e.g. the recommendation
    cycle). ``ephemeral``: an in-memory Dagster instance even when DAGSTER_HOME is set (runs
    of separate homes side by side must not share its warehouse pool). ``selection``: a Dagster
    asset selection (`raw/crm_contacts+`, `group:attract`); default every asset. ``catch_up``
    (without ``days``): only the days not extracted yet, or the trailing restated days."""
    import dagster as dg

    from flywheel_pipeline.definitions import build_definitions
    from flywheel_pipeline.operations.recovery import recover_dead_runs, run_tags
    from flywheel_pipeline.sources.partitions import RANGE_END_TAG, RANGE_START_TAG, range_tags

    on_progress("  preparing definitions (dbt parse when models changed)…")
    definitions = build_definitions(settings)
    log_path = settings.home / "logs" / (log_name or f"run-{datetime.now(UTC):%Y%m%dT%H%M%S}.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    on_progress(f"  detailed log: {log_path}")
    job = definitions.resolve_job_def("everything")
    asset_selection = select_assets(definitions, selection) if selection else None
    asset_selection = _without_unconfigured(settings, definitions, asset_selection)
    persistent = os.environ.get("DAGSTER_HOME") and not ephemeral
    instance = dg.DagsterInstance.get() if persistent else None
    instance = instance or dg.DagsterInstance.ephemeral()
    for recovered in recover_dead_runs(instance):  # a killed run must not hold the pool
        on_progress(f"  {recovered.describe()}")
    if days is not None:
        tags = range_tags(days[0].isoformat(), days[1].isoformat())
    elif catch_up:
        tags = catch_up_tags(definitions, instance, asset_selection)
    else:
        tags = whole_history_tags(job.partitions_def)
    if tags:
        on_progress(
            f"  days of the partitioned sources: {tags[RANGE_START_TAG]} .. {tags[RANGE_END_TAG]}"
        )
    run_id = str(uuid.uuid4())
    done = threading.Event()
    watcher = threading.Thread(
        target=_report_progress, args=(instance, run_id, done, on_progress), daemon=True
    )
    watcher.start()
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if op_config:
        run_config["ops"] = {op: {"config": config} for op, config in op_config.items()}
    try:
        with (
            log_path.open("w", encoding="utf-8") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            result = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                tags={**tags, **run_tags()},  # whose process runs it (recovery.py)
                raise_on_error=False,
                run_config=run_config,
                asset_selection=asset_selection,
            )
    finally:
        done.set()
        watcher.join()
    return RunResult(success=result.success, log_path=log_path)


class SelectionError(ValueError):
    """An asset selection that is not valid or selects nothing."""


def select_assets(definitions, selection: str) -> list:
    """The asset keys a Dagster selection string picks, or a SelectionError saying why not.
    An asset computed together with others (a model's outputs and its runs table) brings
    them along: they cannot be materialised apart."""
    import dagster as dg

    graph = definitions.resolve_asset_graph()
    try:
        picked = dg.AssetSelection.from_string(selection)
        keys = picked.required_multi_asset_neighbors().resolve(graph)
    except Exception as exc:  # the parser's errors are of several private types
        raise SelectionError(f"--select {selection!r}: {exc}") from None
    if not keys:
        raise SelectionError(
            f"--select {selection!r} selects no asset (keys look like raw/crm_contacts, "
            "attract/channel_daily; `+` adds downstream assets, `group:NAME` a group)"
        )
    return sorted(keys)


def _without_unconfigured(settings: Settings, definitions, selection: list | None) -> list | None:
    """The selection (None: every asset) without the live Google sources not configured:
    they would only record hundreds of empty daily partitions. Status shows them skipped."""
    from flywheel_pipeline.sources.source_health import google_sources, unconfigured

    skipped = unconfigured(settings)
    excluded = {key for source, key in google_sources(settings) if source in skipped}
    if not excluded:
        return selection
    keys = selection if selection is not None else definitions.resolve_all_asset_keys()
    kept = [key for key in keys if key not in excluded]
    if not kept:  # an empty selection would mean every asset to Dagster
        missing = ", ".join(skipped.values())
        raise SelectionError(
            f"the selection holds only sources that are not configured ({missing})"
        )
    return kept


def catch_up_tags(definitions, instance, selection: list | None = None) -> dict[str, str]:
    """Run tags for the days some partitioned source (of the selection) has not extracted yet
    (from the first missing day on), or for the trailing restated days when every day is in."""
    from flywheel_pipeline.sources.partitions import pending_range, range_tags
    from flywheel_pipeline.sources.source_health import stale_days

    graph = definitions.resolve_asset_graph()
    partitioned = [
        key
        for key in graph.materializable_asset_keys
        if graph.get(key).partitions_def is not None and (selection is None or key in selection)
    ]
    if not partitioned:
        return {}
    keys = graph.get(partitioned[0]).partitions_def.get_partition_keys()
    # A failed extraction records its days as materialised; they still have to be extracted.
    extracted = [
        set(instance.get_materialized_partitions(key)) - stale_days(instance, key)
        for key in partitioned
    ]
    days = pending_range(keys, extracted)
    return range_tags(*days) if days else {}


def whole_history_tags(partitions) -> dict[str, str]:
    """Run tags that extract every day of the partitioned sources in this one run."""
    from flywheel_pipeline.sources.partitions import range_tags

    keys = partitions.get_partition_keys() if partitions is not None else []
    return range_tags(keys[0], keys[-1]) if keys else {}


def _report_progress(instance, run_id: str, done: threading.Event, echo) -> None:
    import dagster as dg

    from flywheel_pipeline.operations.recovery import PoolWait

    started = time.monotonic()
    pool_wait = PoolWait(instance, run_id)  # a wait for the pool names who holds it
    cursor = None
    kinds = {
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.STEP_START,
    }
    # A partitioned asset extracting a range in one step reports once per day: show it once.
    shown_assets: set = set()
    while True:
        finished = done.is_set()
        try:
            batch = instance.get_records_for_run(run_id, cursor=cursor)
        except Exception as exc:
            echo(f"  (progress unavailable: {exc})")
            raise
        cursor = batch.cursor
        for record in batch.records:
            event = record.event_log_entry.dagster_event
            if event is None or event.event_type not in kinds:
                continue
            elapsed = time.monotonic() - started
            if event.event_type == dg.DagsterEventType.STEP_START:
                if _is_dbt_step(event.step_key):
                    echo(f"  {elapsed:6.1f}s  {dbt_start_line(event.step_key)}")
                continue
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                echo(f"  {elapsed:6.1f}s  FAILED {event.step_key}: {_failure_cause(event)}")
                continue
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key in shown_assets:
                continue
            shown_assets.add(materialization.asset_key)
            metadata = materialization.metadata
            rows = metadata.get("dagster/row_count")
            shown = f"{rows.value:>10,} rows" if rows is not None else ""
            days = metadata.get("days")
            shown += f"  ({days.value})" if days is not None else ""
            echo(f"  {elapsed:6.1f}s  {materialization.asset_key.to_user_string():<45}{shown}")
            failed = metadata.get("flywheel/extraction_failed")  # sources/source_health.py
            if failed is not None:
                echo(f"           extraction FAILED, last good rows kept: {failed.value}")
            if "rejections" in metadata:
                for line in metadata["rejections"].value.splitlines():
                    echo(f"           rejected {line.removeprefix('- ')}")
            quarantined = metadata.get("rows_quarantined")
            if quarantined is not None and quarantined.value:
                echo(f"           {quarantined.value:,} rows quarantined (see raw.quarantine)")
        for line in pool_wait.poll() if not finished else ():
            echo(f"  {time.monotonic() - started:6.1f}s  {line}")
        if finished and not batch.has_more:
            return
        time.sleep(0.5)


def _is_dbt_step(step_key: str | None) -> bool:
    return bool(step_key) and step_key.startswith("dbt_")


def dbt_start_line(step_key: str) -> str:
    """Said when a dbt step starts: its models' lines (with row counts, read once dbt has
    exited and released the warehouse) come together when the build ends."""
    return f"{step_key}: dbt build running (its models follow, with row counts, when it ends)"


def _failure_cause(event) -> str:
    """The innermost error message: the user's exception, not Dagster's wrapper."""
    error = event.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[-1] if error.message.strip() else "unknown error"
