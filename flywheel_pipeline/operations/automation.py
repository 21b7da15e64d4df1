"""Jobs, schedules and the landing-folder sensor."""

import hashlib
from pathlib import Path

import dagster as dg

from flywheel_pipeline.sources.files.schemas import CRM_TABLES, DECISIONS
from flywheel_pipeline.sources.partitions import range_tags, restatement_range

FILE_ASSETS = dg.AssetSelection.assets(
    *(["raw", t.name] for t in (*CRM_TABLES, DECISIONS)),
    ["raw", "conversations"],
    ["raw", "conversation_messages"],
)

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


def landing_fingerprint(landing_dir: Path) -> str:
    """Changes whenever a landing file is added, removed, replaced or rewritten."""
    digest = hashlib.sha256()
    for path in sorted(p for p in landing_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(landing_dir)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def landing_sensor(landing_dir: Path) -> dg.SensorDefinition:
    @dg.sensor(
        job=landing_refresh,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Starts landing_refresh when files under {landing_dir} change.",
    )
    def landing_files(context: dg.SensorEvaluationContext):
        if not landing_dir.exists():
            return dg.SkipReason(f"{landing_dir} does not exist yet")
        fingerprint = landing_fingerprint(landing_dir)
        if fingerprint == context.cursor:
            return dg.SkipReason("no new or changed landing files")
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=fingerprint)

    return landing_files
