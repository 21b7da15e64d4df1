"""The weekly retrain: every model, and the recommendations and marts they feed."""

import dagster as dg

retrain = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.key_prefixes(["ml"]).downstream(),
    description="Retrain every model and refresh the recommendations and marts they feed.",
)

weekly_retrain_schedule = dg.ScheduleDefinition(
    job=retrain, cron_schedule="0 7 * * 1", execution_timezone="UTC"
)
