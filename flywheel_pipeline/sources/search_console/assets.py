"""Raw Search Console assets, one per report definition (default: date × query × page ×
country × device), partitioned by day."""

from collections.abc import Iterator, Sequence

import dagster as dg
import googleapiclient.errors
import httplib2
import pandas as pd

from flywheel_pipeline.sources.google.assets import extract_report, report_asset
from flywheel_pipeline.sources.google.stats import ExtractionStats
from flywheel_pipeline.sources.search_console.extract import QueryPage, page_frame
from flywheel_pipeline.sources.search_console.live import SearchConsoleError
from flywheel_pipeline.sources.search_console.reports import SearchConsoleReport
from flywheel_pipeline.sources.search_console.resource import SearchConsoleResource
from flywheel_pipeline.sources.source_health import TRANSPORT_ERRORS
from flywheel_pipeline.warehouse import WarehouseResource

# What a failed Search Console extraction raises (quota, HTTP errors after retries, a failed
# token request, transport): the asset keeps the last good rows and the
# `extraction_succeeded` check fails the run, while what is downstream still builds
# (sources/source_health.py). Other errors fail the step.
EXTRACTION_ERRORS = (
    SearchConsoleError,
    googleapiclient.errors.Error,
    httplib2.HttpLib2Error,
    *TRANSPORT_ERRORS,
)


class _Tally:
    """What the pages say as they stream past (nothing else is kept); the client counts
    requests, pages and rows in `stats`."""

    def __init__(self) -> None:
        self.stats = ExtractionStats()
        self.first_day = self.last_day = None
        self.first_incomplete_date = None
        self.data_state: str | None = None
        self.preview: pd.DataFrame | None = None

    def frames(
        self, report: SearchConsoleReport, pages: Iterator[QueryPage], loaded_at
    ) -> Iterator[pd.DataFrame]:
        for page in pages:
            frame = page_frame(report, page, loaded_at)
            self.data_state = page.data_state
            self.first_incomplete_date = page.first_incomplete_date or self.first_incomplete_date
            if len(frame):
                low, high = frame["date"].min(), frame["date"].max()
                self.first_day = low if self.first_day is None else min(self.first_day, low)
                self.last_day = high if self.last_day is None else max(self.last_day, high)
                if self.preview is None:
                    self.preview = frame.head(5)
            yield frame

    def metadata(self) -> dict[str, object]:
        metadata: dict[str, object] = {
            **self.stats.metadata(),
            "preview": dg.MetadataValue.md(
                self.preview.to_markdown(index=False) if self.preview is not None else "_empty_"
            ),
        }
        if self.first_day is not None:
            metadata["first_day"] = str(self.first_day)
            metadata["last_day"] = str(self.last_day)
        if self.data_state is not None:
            metadata["data_state"] = self.data_state
        if self.first_incomplete_date is not None:
            metadata["first_incomplete_date"] = str(self.first_incomplete_date)
        return metadata


def search_console_report_asset(
    report: SearchConsoleReport,
    deps: Sequence[dg.AssetKey],
    partitions: dg.PartitionsDefinition,
) -> dg.AssetsDefinition:
    filtered = " (filtered)" if report.dimension_filter_groups else ""

    @report_asset(
        report,
        deps,
        partitions,
        kinds={"duckdb", "google"},
        about=f"Search Console {report.search_type} performance by "
        f"{' × '.join(report.dimensions)}{filtered}.",
    )
    def _extract(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        search_console: SearchConsoleResource,
    ) -> dg.MaterializeResult:
        return extract_report(
            context, warehouse, search_console, report, _Tally(), EXTRACTION_ERRORS
        )

    return _extract


def build_search_console_assets(
    reports: Sequence[SearchConsoleReport],
    partitions: dg.PartitionsDefinition,
    deps: Sequence[dg.AssetKey] = (),
) -> list[dg.AssetsDefinition]:
    return [search_console_report_asset(report, deps, partitions) for report in reports]
