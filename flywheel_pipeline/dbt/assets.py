"""Every dbt model, seed and test as Dagster assets and checks."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from flywheel_pipeline.dbt.project import dbt_project
from flywheel_pipeline.dbt.translator import FlywheelDbtTranslator
from flywheel_pipeline.warehouse import WAREHOUSE_POOL

translator = FlywheelDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_code_references=True)
)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def flywheel_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


def build_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[flywheel_dbt_models],
        resources={"dbt": DbtCliResource(project_dir=dbt_project)},
    )
