"""Raw GA4 assets, one per report definition, partitioned by day."""

from collections.abc import Sequence

import dagster as dg
import duckdb
from google.api_core import exceptions as api_exceptions

from flywheel_pipeline.metadata import column_schema_metadata, utc_now
from flywheel_pipeline.sources.ga4.extract import FLAG_COLUMNS, raw_frames
from flywheel_pipeline.sources.ga4.live import Ga4Error
from flywheel_pipeline.sources.ga4.reports import Ga4Report
from flywheel_pipeline.sources.ga4.resource import Ga4Resource
from flywheel_pipeline.sources.google.snapshot import replaced_rows, rows_outside, served_metadata
from flywheel_pipeline.sources.google.stats import ExtractionStats
from flywheel_pipeline.sources.partitions import SINGLE_RUN, days_of
from flywheel_pipeline.sources.source_health import TRANSPORT_ERRORS, extract_keeping_last_good
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, replace_slice_streaming

SOURCE = "GA4"
# What a failed GA4 extraction raises (quota, HTTP errors after retries, auth, transport): the
# asset keeps the last good rows and the `extraction_succeeded` check fails the run, while
# what is downstream still builds (sources/source_health.py). Other errors fail the step.
EXTRACTION_ERRORS = (Ga4Error, api_exceptions.GoogleAPIError, *TRANSPORT_ERRORS)


def _describe(report: Ga4Report) -> str:
    filters = " (filtered)" if report.dimension_filter or report.metric_filter else ""
    return (
        f"GA4 report {', '.join(report.dimensions)} × {', '.join(report.metrics)}{filters}, "
        "with sampling/thresholding flags and request lineage. One partition per day; a run "
        "replaces the rows of the days it extracts and, when the source states the days it "
        "serves (the demo's snapshot: the simulated days), deletes those of every other day."
    )


def ga4_report_asset(
    report: Ga4Report, deps: Sequence[dg.AssetKey], partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", report.table],
        group_name="sources",
        kinds={"duckdb", "googleanalytics"},
        pool=WAREHOUSE_POOL,
        deps=deps,
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        description=_describe(report),
    )
    def _extract(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, ga4: Ga4Resource
    ) -> dg.MaterializeResult:
        start, end = days_of(context)
        if not ga4.configured:
            # Nothing is written: the rows of earlier runs stay as they were.
            context.log.info("GA4_PROPERTY_ID is not set: GA4 extraction skipped")
            return dg.MaterializeResult(
                metadata={"days": f"{start} .. {end}", "skipped": "GA4_PROPERTY_ID unset"}
            )

        def extract(conn: duckdb.DuckDBPyConnection) -> dict[str, object]:
            stats = ExtractionStats()
            client = ga4.client()
            served = client.served_days(report)
            outside = rows_outside(conn, "raw", report.table, served)
            where, params = replaced_rows((start, end), served)
            pages = client.pages(report, start, end, stats)
            # Pages stream into a staging table; the days' old rows (and those of days the
            # source says it does not serve) are swapped for the new ones in one transaction
            # at the end, so a failed request (after its retries) or a spent quota leaves the
            # table as it was, never half a range.
            replace_slice_streaming(
                conn,
                f"raw.{report.table}",
                raw_frames(report, pages, utc_now()),
                where=where,
                params=params,
                columns=report.column_types,
            )
            flags = [flag for flag in FLAG_COLUMNS if flag in stats.flags]
            return {
                **stats.metadata(),
                **served_metadata(served, outside),
                **column_schema_metadata(conn, f"raw.{report.table}"),
                "flags_set": ", ".join(flags) or "none",
                **{flag: dg.MetadataValue.bool(flag in flags) for flag in FLAG_COLUMNS},
            }

        return extract_keeping_last_good(
            context,
            warehouse,
            source=SOURCE,
            relation=f"raw.{report.table}",
            days=(start, end),
            extract=extract,
            errors=EXTRACTION_ERRORS,
        )

    return _extract


def build_ga4_assets(
    reports: Sequence[Ga4Report],
    partitions: dg.PartitionsDefinition,
    deps: Sequence[dg.AssetKey] = (),
) -> list[dg.AssetsDefinition]:
    return [ga4_report_asset(report, deps, partitions) for report in reports]
