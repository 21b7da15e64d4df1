"""Raw GA4 assets, one per report definition."""

from collections.abc import Sequence

import dagster as dg

from flywheel_pipeline.metadata import frame_metadata, utc_now
from flywheel_pipeline.sources.ga4.extract import FLAG_COLUMNS, ExtractionStats, to_raw_rows
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
        stats = ExtractionStats()
        extra: dict[str, object] = {}
        if ga4.configured:
            start, end = ga4.window(report)
            extra["start_date"] = start.isoformat()
            extra["end_date"] = end.isoformat()
            pages = ga4.client().pages(report, start, end, stats)
        else:
            pages = iter(())
            extra["skipped"] = "GA4_PROPERTY_ID is not set"
        # Every page is fetched before the warehouse is touched: a failed request (after its
        # retries) or a spent quota leaves the previous table as it was, never half a range.
        rows = to_raw_rows(report, pages, utc_now())
        with warehouse.get_connection() as conn:
            replace_table(conn, f"raw.{report.table}", rows)
        flags = {flag: dg.MetadataValue.bool(getattr(stats, flag)) for flag in FLAG_COLUMNS}
        return dg.MaterializeResult(
            metadata=frame_metadata(
                rows,
                rows=dg.MetadataValue.int(stats.rows),
                requests=dg.MetadataValue.int(stats.requests),
                retries=dg.MetadataValue.int(stats.retries),
                flags_set=", ".join(stats.flags_set) or "none",
                **flags,
                **extra,
            )
        )

    return _extract


def build_ga4_assets(deps: Sequence[dg.AssetKey] = ()) -> list[dg.AssetsDefinition]:
    return [ga4_report_asset(report, deps) for report in DEFAULT_REPORTS]
