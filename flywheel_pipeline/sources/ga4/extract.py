"""Turn GA4 report pages into raw rows: typed values, data-quality flags, request lineage.

Live and demo clients yield the same `ReportPage`s for a report over a date range, so
everything from here on is shared.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from flywheel_pipeline.sources.ga4.reports import Ga4Report
from flywheel_pipeline.sources.google.client import DemoClient, ReportClient, with_lineage

FLAG_COLUMNS = ["is_sampled", "subject_to_thresholding", "has_other_row"]


@dataclass(frozen=True)
class ReportPage:
    rows: pd.DataFrame  # snake_case columns of the report, values as the API gives them
    request_id: str
    page: int
    is_sampled: bool = False
    subject_to_thresholding: bool = False
    has_other_row: bool = False

    @property
    def flags(self) -> list[str]:
        """The data-quality flags this page carries."""
        return [flag for flag in FLAG_COLUMNS if getattr(self, flag)]


# What the asset asks of a GA4 client, live (ga4/live.py) or demo.
Ga4Client = ReportClient[Ga4Report, ReportPage]


def raw_frame(report: Ga4Report, page: ReportPage, loaded_at: datetime) -> pd.DataFrame:
    """One page as raw rows: typed columns in `report.column_types` order, flags, lineage."""
    raw = page.rows.reindex(columns=report.columns).copy()
    # The API gives `20240131`, the demo snapshot timestamps: both parse.
    raw["date"] = pd.to_datetime(raw["date"].astype("string"), format="mixed").dt.date
    for column in report.integer_columns:
        raw[column] = pd.to_numeric(raw[column]).astype("Int64")
    for column in report.float_columns:
        raw[column] = pd.to_numeric(raw[column]).astype("float64")
    for column in FLAG_COLUMNS:
        raw[column] = pd.Series(getattr(page, column), index=raw.index, dtype="boolean")
    return with_lineage(raw, page, loaded_at, report.column_types)


def raw_frames(
    report: Ga4Report, pages: Iterable[ReportPage], loaded_at: datetime
) -> Iterator[pd.DataFrame]:
    for page in pages:
        yield raw_frame(report, page, loaded_at)


def to_raw_rows(
    report: Ga4Report, pages: Iterable[ReportPage], loaded_at: datetime
) -> pd.DataFrame:
    """All pages as one frame (small extractions and tests; the asset streams instead)."""
    empty = ReportPage(pd.DataFrame(columns=report.columns), request_id="", page=0)
    frames = [raw_frame(report, page, loaded_at) for page in pages]
    return pd.concat(frames, ignore_index=True) if frames else raw_frame(report, empty, loaded_at)


@dataclass(frozen=True)
class DemoGa4Client(DemoClient[Ga4Report, ReportPage]):
    """Serves the demo business's GA4 reports from the simulator's snapshot."""

    def _page(self, report: Ga4Report, rows: pd.DataFrame) -> ReportPage:
        return ReportPage(rows, request_id=f"demo:{report.table}", page=0)

    def _flags(self, page: ReportPage) -> list[str]:
        return page.flags
