"""How dbt nodes appear in Dagster: `<schema>/<model>` keys, groups per flywheel stage, stage
and layer tags, and the data team as owner (the definitions may set another, see
flywheel_pipeline/definitions.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from flywheel_pipeline.metadata import DEFAULT_OWNER, stage_tags


class FlywheelDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([_schema(dbt_resource_props), dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "staging"
        if dbt_resource_props["resource_type"] in ("model", "snapshot"):
            return _schema(dbt_resource_props)
        return super().get_group_name(dbt_resource_props)

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            key = self.get_asset_key(dbt_resource_props)
            tags.update(stage_tags(key, self.get_group_name(dbt_resource_props)))
        return tags

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        # An owner set in a model's `meta` (dagster: owners: [...]) comes first.
        owners = list(super().get_owners(dbt_resource_props) or [])
        return owners if owners else [DEFAULT_OWNER]


def _schema(dbt_resource_props: Mapping[str, Any]) -> str:
    # generate_schema_name uses the configured schema verbatim, so this is the DuckDB schema.
    return dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
