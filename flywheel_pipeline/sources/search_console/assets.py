"""Raw Search Console asset: date × query × page × country × device."""

from collections.abc import Iterator, Sequence

import dagster as dg
import pandas as pd

from flywheel_pipeline.metadata import utc_now
from flywheel_pipeline.sources.search_console.extract import (
    RAW_COLUMN_TYPES,
    RAW_TABLE,
    QueryPage,
    page_frame,
)
from flywheel_pipeline.sources.search_console.resource import SearchConsoleResource
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    replace_table_streaming,
)


class _Tally:
    """Running totals over the pages as they stream past (nothing else is kept)."""

    def __init__(self) -> None:
        self.pages = self.requests = self.rows = 0
        self.first_day = self.last_day = None
        self.first_incomplete_date = None
        self.data_state: str | None = None
        self.preview: pd.DataFrame | None = None

    def frames(self, pages: Iterator[QueryPage], loaded_at) -> Iterator[pd.DataFrame]:
        for page in pages:
            frame = page_frame(page, loaded_at)
            self.pages += 1
            self.requests += page.attempts
            self.rows += len(frame)
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
            "dagster/row_count": dg.MetadataValue.int(self.rows),
            "preview": dg.MetadataValue.md(
                self.preview.to_markdown(index=False) if self.preview is not None else "_empty_"
            ),
            "requests": dg.MetadataValue.int(self.requests),
            "retries": dg.MetadataValue.int(self.requests - self.pages),
            "pages": dg.MetadataValue.int(self.pages),
        }
        if self.first_day is not None:
            metadata["first_day"] = str(self.first_day)
            metadata["last_day"] = str(self.last_day)
        if self.data_state is not None:
            metadata["data_state"] = self.data_state
        if self.first_incomplete_date is not None:
            metadata["first_incomplete_date"] = str(self.first_incomplete_date)
        return metadata


def build_search_console_assets(deps: Sequence[dg.AssetKey] = ()) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=["raw", RAW_TABLE],
        group_name="sources",
        kinds={"duckdb", "google"},
        pool=WAREHOUSE_POOL,
        deps=deps,
        description="Search Console performance by date × query × page × country × device.",
    )
    def gsc_search_analytics(
        warehouse: WarehouseResource, search_console: SearchConsoleResource
    ) -> dg.MaterializeResult:
        tally = _Tally()
        start = end = None
        if search_console.configured:
            start, end = search_console.date_range()
            pages = search_console.client().pages(start, end)
        else:
            pages = iter(())
        # Pages stream into a staging table that is swapped in at the end: memory stays flat
        # whatever the row count, and a failed page leaves the previous table as it was.
        with warehouse.get_connection() as conn:
            replace_table_streaming(
                conn,
                f"raw.{RAW_TABLE}",
                tally.frames(pages, utc_now()),
                columns=RAW_COLUMN_TYPES,
            )
        metadata = tally.metadata()
        if start is not None:
            metadata["requested_range"] = f"{start} .. {end}"
        if not search_console.configured:
            metadata["skipped"] = "GSC_SITE_URL is not set"
        return dg.MaterializeResult(metadata=metadata)

    return [gsc_search_analytics]
