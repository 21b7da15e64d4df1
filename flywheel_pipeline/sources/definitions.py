"""Every source's raw assets and resources; the demo simulator feeds them in demo mode."""

from __future__ import annotations

import dagster as dg

from flywheel_pipeline.settings import Settings
from flywheel_pipeline.sources.files.assets import build_file_assets
from flywheel_pipeline.sources.ga4.assets import build_ga4_assets
from flywheel_pipeline.sources.ga4.resource import Ga4Resource
from flywheel_pipeline.sources.search_console.assets import build_search_console_assets
from flywheel_pipeline.sources.search_console.resource import SearchConsoleResource


def build_defs(settings: Settings) -> dg.Definitions:
    demo = settings.source == "demo"
    assets: list[dg.AssetsDefinition] = []
    resources: dict[str, object] = {
        "ga4": Ga4Resource(
            mode=settings.source,
            demo_snapshot_dir=str(settings.demo_dir / "ga4"),
            property_id=settings.ga4_property_id,
            api_endpoint=settings.ga4_api_endpoint,
        ),
        "search_console": SearchConsoleResource(
            mode=settings.source,
            demo_snapshot_dir=str(settings.demo_dir / "search_console"),
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
        )
    assets += build_file_assets(upstream)
    assets += build_ga4_assets(upstream)
    assets += build_search_console_assets(upstream)
    return dg.Definitions(assets=assets, resources=resources)
