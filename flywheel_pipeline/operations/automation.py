"""Jobs, schedules and the landing-folder sensor."""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import dagster as dg

from flywheel_pipeline.sources.files.drops import FILE_DROPS, DropSource
from flywheel_pipeline.sources.files.tables import list_files
from flywheel_pipeline.sources.partitions import range_tags, restatement_range


def drop_keys(drop: DropSource) -> list[dg.AssetKey]:
    """The raw assets a landing folder feeds (their keys are their relations)."""
    return [dg.AssetKey(relation.split(".")) for relation in drop.tables]


FILE_ASSETS = dg.AssetSelection.assets(*(key for drop in FILE_DROPS for key in drop_keys(drop)))

everything = dg.define_asset_job(
    "everything",
    selection=dg.AssetSelection.all(),
    description=(
        "Extract every source, build every model and insight, publish the marts. GA4 and "
        "Search Console extract the run's partition range (tags "
        "dagster/asset_partition_range_start/end)."
    ),
)
landing_refresh = dg.define_asset_job(
    "landing_refresh",
    selection=FILE_ASSETS.downstream(),
    description="Load new landing files and rebuild what depends on them.",
)
retrain = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.key_prefixes(["ml"]).downstream(),
    description="Retrain every model and refresh the recommendations and marts they feed.",
)


def daily_schedule(partitions: dg.PartitionsDefinition) -> dg.ScheduleDefinition:
    """Every morning: restate the trailing days of GA4 and Search Console in one run (they
    keep changing for up to 72 h), load new files, rebuild everything downstream."""

    @dg.schedule(
        job=everything,
        cron_schedule="0 6 * * *",
        execution_timezone="UTC",
        description=(
            "Daily ingest and build: GA4 and Search Console restate their last 3 days in one "
            "run, then every model, insight and mart is rebuilt."
        ),
    )
    def daily_ingest(context: dg.ScheduleEvaluationContext):
        days = restatement_range(partitions, context.scheduled_execution_time)
        if days is None:
            return dg.SkipReason("no complete day since the start date yet")
        first, last = days
        return dg.RunRequest(run_key=f"daily-{last}", tags=range_tags(first, last))

    return daily_ingest


weekly_retrain_schedule = dg.ScheduleDefinition(
    job=retrain, cron_schedule="0 7 * * 1", execution_timezone="UTC"
)


def folder_fingerprints(landing_dir: Path) -> dict[str, str]:
    """Per landing folder holding files: a digest that changes whenever a file the loader would
    read there (or its mapping.yaml) is added, removed, replaced or rewritten. Other files
    (a `.partial` being written, a README) are not the loader's and change nothing."""
    fingerprints = {}
    for drop in FILE_DROPS:
        paths = list_files(landing_dir, drop.folder, (*drop.patterns, *drop.settings_files))
        digest = _digest(landing_dir, paths)
        if digest is not None:
            fingerprints[drop.folder] = digest
    return fingerprints


def _digest(landing_dir: Path, paths: Iterable[Path]) -> str | None:
    digest, seen = hashlib.sha256(), False
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed since the folder was listed
            continue
        name = path.relative_to(landing_dir).as_posix()
        digest.update(f"{name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        seen = True
    return digest.hexdigest() if seen else None


def _read_cursor(cursor: str | None) -> dict[str, str]:
    # A cursor of the earlier whole-folder sensor (one hex digest) is not JSON: every folder
    # holding files then counts as changed once, which loads nothing twice.
    try:
        folders = json.loads(cursor or "{}")
    except json.JSONDecodeError:
        return {}
    return folders if isinstance(folders, dict) else {}


def changed_folders(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(f for f in previous.keys() | current.keys() if previous.get(f) != current.get(f))


def with_downstream(
    repository: dg.RepositoryDefinition, roots: Sequence[dg.AssetKey]
) -> list[dg.AssetKey]:
    """`roots` and every asset downstream of them; an asset that cannot run in part brings all
    of its keys (and what is downstream of those)."""
    children: dict[dg.AssetKey, set[dg.AssetKey]] = defaultdict(set)
    together: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    for assets_def in set(repository.assets_defs_by_key.values()):
        for key, parents in assets_def.asset_deps.items():
            for parent in parents:
                children[parent].add(key)
        if not assets_def.can_subset:
            together.update({key: set(assets_def.keys) for key in assets_def.keys})
    selected: set[dg.AssetKey] = set()
    pending = list(roots)
    while pending:
        key = pending.pop()
        if key not in selected:
            selected.add(key)
            pending += [*children[key], *together.get(key, ())]
    return sorted(selected, key=lambda key: key.to_user_string())


def landing_run_request(
    context: dg.SensorEvaluationContext, changed: dict[str, str | None]
) -> dg.RunRequest:
    """One run for the folders that changed (folder -> its new digest, None once empty)."""
    roots = [key for drop in FILE_DROPS if drop.folder in changed for key in drop_keys(drop)]
    repository = context.repository_def
    # Without its repository (a bare test context) the sensor cannot see the graph: the whole
    # job, a superset, still loads every change.
    selection = with_downstream(repository, roots) if repository is not None else None
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()
    return dg.RunRequest(
        run_key=f"landing-{digest}",
        asset_selection=selection,
        tags={"flywheel/landing_folders": ",".join(sorted(changed))},
    )


def landing_sensor(landing_dir: Path) -> dg.SensorDefinition:
    @dg.sensor(
        job=landing_refresh,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            f"When files under {landing_dir} change, loads the folders that changed and "
            "rebuilds what depends on them (a per-folder cursor: one run per change)."
        ),
    )
    def landing_files(context: dg.SensorEvaluationContext):
        if not landing_dir.exists():
            return dg.SkipReason(f"{landing_dir} does not exist yet")
        current = folder_fingerprints(landing_dir)
        changed = changed_folders(_read_cursor(context.cursor), current)
        if not changed:
            return dg.SkipReason("no new or changed landing files")
        request = landing_run_request(context, {f: current.get(f) for f in changed})
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(current, sort_keys=True))

    return landing_files


# Declarative automation: the published outputs follow the marts ---------------------------

# What only republishes the warehouse (the HTML report, the serving copy for BI tools, the
# open-action files). Any run that updates part of the marts (a model materialised from the
# UI, `flywheel run --select`, the weekly retrain) would otherwise leave them stale until the
# next full run; a schedule would republish when nothing changed.
PUBLISHED = dg.AssetSelection.assets(
    dg.AssetKey(["reports", "flywheel_html"]),
    dg.AssetKey(["serving", "marts"]),
    dg.AssetKey(["reports", "open_actions"]),
)


def publish_condition() -> dg.AutomationCondition:
    """Republish after any upstream update, once none is missing or still running: eager()
    never fires on an empty warehouse, nor mid-run while dbt or a model still writes."""
    return dg.AutomationCondition.eager()


def with_publish_automation(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """`assets` (the published ones) carrying `publish_condition`."""
    return list(
        dg.map_asset_specs(
            lambda spec: spec.replace_attributes(automation_condition=publish_condition()),
            assets,
        )
    )


# Off until switched on, like the landing sensor (and idle anyway unless the daemon runs, as
# under `make ui`): with both on, a file drop loads, rebuilds and republishes without a job.
publish_sensor = dg.AutomationConditionSensorDefinition(
    "publish_after_mart_updates",
    target=PUBLISHED,
    default_status=dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=60,
    description=(
        "Rebuilds the HTML report, the serving copy and the open-action files after any run "
        "that updated what they read (declarative automation, AutomationCondition.eager)."
    ),
)
