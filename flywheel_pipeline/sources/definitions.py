"""Every source's raw assets and resources; the demo simulator feeds them in demo mode."""

from __future__ import annotations

import warnings
from typing import TypeVar

import dagster as dg

from flywheel_pipeline.resources import google_credentials_path
from flywheel_pipeline.settings import Settings
from flywheel_pipeline.sources.checks import build_defs as check_defs
from flywheel_pipeline.sources.files.assets import build_file_assets
from flywheel_pipeline.sources.files.automation import landing_refresh, landing_sensor
from flywheel_pipeline.sources.ga4.assets import build_ga4_assets
from flywheel_pipeline.sources.ga4.resource import Ga4Resource
from flywheel_pipeline.sources.google.resource import GoogleApiResource
from flywheel_pipeline.sources.partitions import daily_partitions
from flywheel_pipeline.sources.report_file import ReportDefinitions, load_reports
from flywheel_pipeline.sources.search_console.assets import build_search_console_assets
from flywheel_pipeline.sources.search_console.resource import SearchConsoleResource
from flywheel_pipeline.sources.source_health import (
    drop_sources,
    extraction_check,
    google_sources,
    rejected_files_check,
)

GoogleResourceT = TypeVar("GoogleResourceT", bound=GoogleApiResource)


def google_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """The days GA4 and Search Console are extracted by: live, from the start date through
    yesterday; demo, exactly the simulated days."""
    if settings.source == "live":
        return daily_partitions(settings.start_date)
    config = demo_config(settings)
    return daily_partitions(config.start_date, config.end_date)


def demo_config(settings: Settings):
    """The demo business the settings describe (its calendar: start and end date)."""
    from flywheel_pipeline.sources.demo import DemoConfig

    return DemoConfig(
        seed=settings.flywheel_demo_seed,
        scale=settings.flywheel_demo_scale,
        days=settings.flywheel_demo_days,
        end_date=settings.flywheel_demo_end_date,
    )


def google_reports(settings: Settings) -> ReportDefinitions:
    """The configured reports; the demo business serves only the default ones."""
    reports = load_reports(settings.flywheel_reports_file)
    if settings.source == "live":
        return reports
    defaults = load_reports()
    return ReportDefinitions(
        ga4=tuple(r for r in reports.ga4 if r.table in {d.table for d in defaults.ga4}),
        search_console=tuple(
            r
            for r in reports.search_console
            if r.table in {d.table for d in defaults.search_console}
        ),
    )


def _google_resource(
    resource: type[GoogleResourceT], settings: Settings, name: str, **own: object
) -> GoogleResourceT:
    """A Google source's resource in the configured mode, serving the demo's snapshots from
    `<demo_dir>/<name>`; `own` holds its own settings."""
    return resource(
        mode=settings.source,
        demo_snapshot_dir=str(settings.demo_dir / name),
        credentials_path=google_credentials_path(settings),
        **own,
    )


def build_defs(settings: Settings) -> dg.Definitions:
    demo = settings.source == "demo"
    partitions = google_partitions(settings)
    reports = google_reports(settings)
    assets: list[dg.AssetsDefinition] = []
    resources: dict[str, object] = {
        "ga4": _google_resource(
            Ga4Resource,
            settings,
            "ga4",
            property_id=settings.ga4_property_id,
            api_endpoint=settings.ga4_api_endpoint,
        ),
        "search_console": _google_resource(
            SearchConsoleResource,
            settings,
            "search_console",
            site_url=settings.gsc_site_url,
            api_endpoint=settings.gsc_api_endpoint,
        ),
    }
    upstream: list[dg.AssetKey] = []
    if demo:
        # Imported here so that live deployments never load the simulator.
        from flywheel_pipeline.sources.demo.assets import (
            DEMO_BUSINESS,
            DemoResource,
            demo_business,
        )

        assets.append(demo_business)
        upstream.append(DEMO_BUSINESS)
        resources["demo"] = DemoResource(
            seed=settings.flywheel_demo_seed,
            scale=settings.flywheel_demo_scale,
            days=settings.flywheel_demo_days,
            end_date=settings.flywheel_demo_end_date.isoformat(),
        )
    assets += build_file_assets(upstream)
    with warnings.catch_warnings():
        # A backfill as one run (BackfillPolicy.single_run) is what the sources need and is
        # still marked beta; the warning would greet every `flywheel` command.
        warnings.filterwarnings("ignore", ".*backfill_policy", dg.BetaWarning)
        assets += build_ga4_assets(reports.ga4, partitions, upstream)
        assets += build_search_console_assets(reports.search_console, partitions, upstream)
    # A source that fails keeps its last good data and lets the rest of the run build; these
    # checks then fail the run (sources/source_health.py).
    checks = [
        *(extraction_check(key, source) for source, key in google_sources(settings)),
        *(rejected_files_check(key, folder) for folder, key in drop_sources()),
    ]
    sources = dg.Definitions(
        assets=assets,
        asset_checks=checks,
        resources=resources,
        jobs=[landing_refresh],
        sensors=[landing_sensor(settings.landing_dir)],
    )
    return dg.Definitions.merge(
        sources, check_defs(settings, [key for asset in assets for key in asset.keys])
    )
