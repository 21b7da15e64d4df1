"""Flywheel's Dagster definitions, assembled from one module per domain.

sources → dbt (staging, intermediate, marts) → insights → recommendations → operations.
"""

from __future__ import annotations

import dagster as dg

from flywheel_pipeline.dbt.project import ensure_manifest
from flywheel_pipeline.resources import build_resources
from flywheel_pipeline.settings import Settings, load_settings


def build_definitions(settings: Settings) -> dg.Definitions:
    settings.export_for_subprocesses()
    ensure_manifest()
    # Imported after the manifest exists: the dbt assets are read from it at import time.
    from flywheel_pipeline.dbt.assets import build_defs as dbt_defs
    from flywheel_pipeline.insights.assets import build_defs as insight_defs
    from flywheel_pipeline.operations.definitions import build_defs as operation_defs
    from flywheel_pipeline.recommendations.assets import build_defs as recommendation_defs
    from flywheel_pipeline.sources.definitions import build_defs as source_defs
    from flywheel_pipeline.sources.definitions import google_partitions

    domains = dg.Definitions.merge(
        dg.Definitions(resources=build_resources(settings)),
        source_defs(settings),
        dbt_defs(),
        insight_defs(),
        recommendation_defs(settings),
    )
    warehouse_assets = [spec.key for spec in domains.resolve_all_asset_specs()]
    operations = operation_defs(settings, warehouse_assets, google_partitions(settings), domains)
    return dg.Definitions.merge(domains, operations)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings())
