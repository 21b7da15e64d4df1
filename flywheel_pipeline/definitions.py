"""Flywheel's Dagster definitions, assembled from one module per domain.

sources → dbt (staging, intermediate, marts) → insights → recommendations → operations.

One pass over the assembled definitions gives every asset what the catalog shows: an owner
(FLYWHEEL_OWNER), `stage` and `layer` tags, `dagster/table_name` for the raw and ml tables,
and links to its code (to the forge when FLYWHEEL_GIT_URL is set).

Building them reads the settings it is given and nothing else, and leaves the process's
environment as it was: dbt learns its warehouse from each command (dbt/project.py), the
Google resources their credentials from their own config (resources.py). The one thing it
writes is dbt's manifest (with its partial parse), when a model changed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from flywheel_pipeline.dbt.assets import build_defs as dbt_defs
from flywheel_pipeline.insights.assets import build_defs as insight_defs
from flywheel_pipeline.metadata import DEFAULT_OWNER, stage_tags, warehouse_table_name
from flywheel_pipeline.operations.definitions import build_defs as operation_defs
from flywheel_pipeline.recommendations.assets import build_defs as recommendation_defs
from flywheel_pipeline.resources import build_resources
from flywheel_pipeline.settings import Settings, load_settings
from flywheel_pipeline.sources.definitions import build_defs as source_defs
from flywheel_pipeline.sources.definitions import google_partitions


def build_definitions(settings: Settings) -> dg.Definitions:
    domains = dg.Definitions.merge(
        dg.Definitions(resources=build_resources(settings)),
        source_defs(settings),
        dbt_defs(settings),
        insight_defs(),
        recommendation_defs(settings),
    )
    warehouse_assets = [spec.key for spec in domains.resolve_all_asset_specs()]
    operations = operation_defs(settings, warehouse_assets, google_partitions(settings), domains)
    return catalogued(dg.Definitions.merge(domains, operations), settings)


def catalogued(defs: dg.Definitions, settings: Settings) -> dg.Definitions:
    """`defs` with code references on every asset and the catalog attributes of
    `catalog_attributes` on every spec."""
    assets = dg.map_asset_specs(
        lambda spec: catalog_attributes(spec, settings.flywheel_owner),
        code_references(list(defs.assets or []), settings),
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=defs.asset_checks,
        schedules=defs.schedules,
        sensors=defs.sensors,
        jobs=defs.jobs,
        resources=defs.resources,
        executor=defs.executor,
        loggers=defs.loggers,
        metadata=defs.metadata,
    )


def catalog_attributes(spec: dg.AssetSpec, owner: str) -> dg.AssetSpec:
    """The owner (unless the asset names its own), the stage/layer tags (unless set already,
    as the dbt translator does) and, for a raw or ml table, `dagster/table_name`."""
    owners = [owner] if not spec.owners or list(spec.owners) == [DEFAULT_OWNER] else spec.owners
    tags = {**stage_tags(spec.key, spec.group_name), **spec.tags}
    metadata = dict(spec.metadata)
    table_name = warehouse_table_name(spec.key)
    if table_name is not None:
        metadata.setdefault("dagster/table_name", table_name)
    return spec.replace_attributes(owners=owners, tags=tags, metadata=metadata)


def code_references(assets: Sequence, settings: Settings) -> list:
    """Local code references for the Python assets (dbt assets point at their SQL already),
    turned into links to the repository when FLYWHEEL_GIT_URL is set."""
    python = [a for a in assets if not _has_code_references(a)]
    referenced = [a for a in assets if _has_code_references(a)]
    with warnings.catch_warnings():
        # Code references are beta in Dagster; the warning would greet every `flywheel` command.
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = [*dg.with_source_code_references(python), *referenced]
        if settings.flywheel_git_url is None:
            return assets
        return list(
            dg.link_code_references_to_git(
                assets,
                git_url=settings.flywheel_git_url,
                git_branch=settings.flywheel_git_branch,
                # This file's place in the repository anchors every local path.
                file_path_mapping=dg.AnchorBasedFilePathMapping(
                    local_file_anchor=Path(__file__),
                    file_anchor_path_in_repository="flywheel_pipeline/definitions.py",
                ),
            )
        )


def _has_code_references(assets_def: object) -> bool:
    specs = getattr(assets_def, "specs", None)
    return bool(specs) and all("dagster/code_references" in s.metadata for s in specs)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings())
