"""Turn Search Console `searchanalytics.query` pages into raw rows with lineage."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from flywheel_pipeline.sources.google.client import DemoClient, ReportClient, with_lineage
from flywheel_pipeline.sources.search_console.reports import (
    METRICS,
    SearchConsoleReport,
    column_name,
)

# The default report's table (sources/reports.yaml); the demo snapshot carries its name.
RAW_TABLE = "gsc_search_analytics"


@dataclass(frozen=True)
class QueryPage:
    """One page of a `searchanalytics.query` response, with its lineage.

    `data_state` is the request's dataState (`final` or `all`); with `all`, days on or after
    `first_incomplete_date` are still being collected and may change.
    """

    rows: pd.DataFrame  # the report's dimensions, then clicks, impressions, ctr, position
    request_id: str
    page: int
    data_state: str = "final"
    first_incomplete_date: date | None = None


# What the asset asks of a Search Console client, live (search_console/live.py) or demo.
SearchConsoleClient = ReportClient[SearchConsoleReport, QueryPage]


def page_frame(report: SearchConsoleReport, page: QueryPage, loaded_at: datetime) -> pd.DataFrame:
    """One page as raw rows: typed columns in `report.column_types` order, lineage filled in."""
    frame = page.rows.reindex(columns=[*report.dimensions, *METRICS])
    dates = frame["date"]
    if not pd.api.types.is_datetime64_any_dtype(dates):
        dates = pd.to_datetime(dates.astype("string"), format="ISO8601")
    raw = pd.DataFrame(
        {
            "date": dates.dt.date,
            **{column_name(d): frame[d].astype("string") for d in report.dimensions if d != "date"},
            **{
                column: pd.to_numeric(frame[column]).round().astype("Int64")
                for column in ("clicks", "impressions")
            },
            **{
                column: pd.to_numeric(frame[column]).astype("float64")
                for column in ("ctr", "position")
            },
        }
    )
    raw["data_state"] = page.data_state
    raw["first_incomplete_date"] = pd.Series(
        [page.first_incomplete_date] * len(raw), index=raw.index, dtype="object"
    )
    return with_lineage(raw, page, loaded_at, report.column_types)


def to_raw_rows(
    report: SearchConsoleReport, pages: Iterable[QueryPage], loaded_at: datetime
) -> pd.DataFrame:
    """All pages as one frame (small extractions and tests; the asset streams instead)."""
    frames = [page_frame(report, page, loaded_at) for page in pages]
    if frames:
        return pd.concat(frames, ignore_index=True)
    empty = QueryPage(pd.DataFrame(columns=[*report.dimensions, *METRICS]), request_id="", page=0)
    return page_frame(report, empty, loaded_at)


@dataclass(frozen=True)
class DemoSearchConsoleClient(DemoClient[SearchConsoleReport, QueryPage]):
    """Serves the demo business's Search Console rows from the simulator's snapshot."""

    def _page(self, report: SearchConsoleReport, rows: pd.DataFrame) -> QueryPage:
        return QueryPage(rows, request_id=f"demo:{report.table}", page=0)
