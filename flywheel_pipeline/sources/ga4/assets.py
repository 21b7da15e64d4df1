"""Raw GA4 assets, one per report definition."""

from collections.abc import Sequence

import dagster as dg

from flywheel_pipeline.metadata import frame_metadata, utc_now
from flywheel_pipeline.sources.ga4.extract import to_raw_rows
from flywheel_pipeline.sources.ga4.reports import DEFAULT_REPORTS, Ga4Report
from flywheel_pipeline.sources.ga4.resource import Ga4Resource
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, replace_table


def ga4_report_asset(report: Ga4Report, deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", report.table],
        group_name="sources",
        kinds={"duckdb", "googleanalytics"},
        pool=WAREHOUSE_POOL,
        deps=deps,
        description=(
            f"GA4 report {', '.join(report.dimensions)} × {', '.join(report.metrics)}, "
            "with sampling/thresholding flags and request lineage."
        ),
    )
    def _extract(warehouse: WarehouseResource, ga4: Ga4Resource) -> dg.MaterializeResult:
        pages = iter(()) if not ga4.configured else ga4.client().pages(report)
        rows = to_raw_rows(report, pages, utc_now())
        with warehouse.get_connection() as conn:
            replace_table(conn, f"raw.{report.table}", rows)
        status = {} if ga4.configured else {"skipped": "GA4_PROPERTY_ID is not set"}
        return dg.MaterializeResult(
            metadata=frame_metadata(rows, requests=int(rows["_request_id"].nunique()), **status)
        )

    return _extract


def build_ga4_assets(deps: Sequence[dg.AssetKey] = ()) -> list[dg.AssetsDefinition]:
    return [ga4_report_asset(report, deps) for report in DEFAULT_REPORTS]
