"""How dbt nodes appear in Dagster: `<schema>/<model>` keys, groups per flywheel stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator


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


def _schema(dbt_resource_props: Mapping[str, Any]) -> str:
    # generate_schema_name uses the configured schema verbatim, so this is the DuckDB schema.
    return dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props["schema"]
