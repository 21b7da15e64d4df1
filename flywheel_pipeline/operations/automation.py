"""The whole pipeline's job and daily schedule, and the published outputs following the marts.

The landing folder's job and sensor are the file drops' (sources/files/automation.py), the
weekly retrain the insights' (insights/automation.py).
"""

from collections.abc import Sequence

import dagster as dg

from flywheel_pipeline.sources.partitions import range_tags, restatement_range

everything = dg.define_asset_job(
    "everything",
    selection=dg.AssetSelection.all(),
    description=(
        "Extract every source, build every model and insight, publish the marts. GA4 and "
        "Search Console extract the run's partition range (tags "
        "dagster/asset_partition_range_start/end)."
    ),
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
