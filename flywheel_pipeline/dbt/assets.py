"""Every dbt model, seed and test as Dagster assets and checks.

The project runs in two invocations around the insight assets: first everything that does
not read a model output (`source:ml`), then the marts that join model outputs and what is
downstream of them. Two explicit steps keep the graph acyclic and cost two dbt start-ups.
"""

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from flywheel_pipeline.dbt.launcher import mark_parent
from flywheel_pipeline.dbt.project import DBT_EXECUTABLE, dbt_project
from flywheel_pipeline.dbt.translator import FlywheelDbtTranslator
from flywheel_pipeline.warehouse import WAREHOUSE_POOL

FED_BY_INSIGHTS = "source:ml+"

translator = FlywheelDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_code_references=True)
)


def _build(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    mark_parent()  # dbt (through flywheel-dbt) dies with this process, even killed outright
    yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=FED_BY_INSIGHTS,
    name="dbt_warehouse",
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def dbt_warehouse(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Staging, intermediate and the marts built from sources alone."""
    yield from _build(context, dbt)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=FED_BY_INSIGHTS,
    name="dbt_insight_marts",
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def dbt_insight_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """The marts that join model outputs (topics, scores, recommendations) and their dependants."""
    yield from _build(context, dbt)


def build_defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[dbt_warehouse, dbt_insight_marts],
        resources={"dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)},
    )
