"""Raw GA4 assets, one per report definition, partitioned by day."""

from collections.abc import Iterator, Sequence
from datetime import datetime

import dagster as dg
import pandas as pd
from google.api_core import exceptions as api_exceptions

from flywheel_pipeline.sources.ga4.extract import FLAG_COLUMNS, ReportPage, raw_frames
from flywheel_pipeline.sources.ga4.live import Ga4Error
from flywheel_pipeline.sources.ga4.reports import Ga4Report
from flywheel_pipeline.sources.ga4.resource import Ga4Resource
from flywheel_pipeline.sources.google.assets import extract_report, report_asset
from flywheel_pipeline.sources.google.stats import ExtractionStats
from flywheel_pipeline.sources.source_health import TRANSPORT_ERRORS
from flywheel_pipeline.warehouse import WarehouseResource

# What a failed GA4 extraction raises (quota, HTTP errors after retries, auth, transport): the
# asset keeps the last good rows and the `extraction_succeeded` check fails the run, while
# what is downstream still builds (sources/source_health.py). Other errors fail the step.
EXTRACTION_ERRORS = (Ga4Error, api_exceptions.GoogleAPIError, *TRANSPORT_ERRORS)


class _Tally:
    """GA4's pages as raw frames; the data-quality flags any page carried, for the
    materialisation."""

    def __init__(self) -> None:
        self.stats = ExtractionStats()

    def frames(
        self, report: Ga4Report, pages: Iterator[ReportPage], loaded_at: datetime
    ) -> Iterator[pd.DataFrame]:
        return raw_frames(report, pages, loaded_at)

    def metadata(self) -> dict[str, object]:
        flags = [flag for flag in FLAG_COLUMNS if flag in self.stats.flags]
        return {
            **self.stats.metadata(),
            "flags_set": ", ".join(flags) or "none",
            **{flag: dg.MetadataValue.bool(flag in flags) for flag in FLAG_COLUMNS},
        }


def ga4_report_asset(
    report: Ga4Report, deps: Sequence[dg.AssetKey], partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    filters = " (filtered)" if report.dimension_filter or report.metric_filter else ""

    @report_asset(
        report,
        deps,
        partitions,
        kinds={"duckdb", "googleanalytics"},
        about=f"GA4 report {', '.join(report.dimensions)} × {', '.join(report.metrics)}"
        f"{filters}, with sampling/thresholding flags and request lineage.",
    )
    def _extract(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, ga4: Ga4Resource
    ) -> dg.MaterializeResult:
        return extract_report(context, warehouse, ga4, report, _Tally(), EXTRACTION_ERRORS)

    return _extract


def build_ga4_assets(
    reports: Sequence[Ga4Report],
    partitions: dg.PartitionsDefinition,
    deps: Sequence[dg.AssetKey] = (),
) -> list[dg.AssetsDefinition]:
    return [ga4_report_asset(report, deps, partitions) for report in reports]
