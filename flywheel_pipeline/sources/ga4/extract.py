"""Turn GA4 report pages into raw rows: typed values, data-quality flags, request lineage.

Live and demo clients yield the same `ReportPage`s for a report over a date range, so
everything from here on is shared.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

from flywheel_pipeline.sources.ga4.reports import Ga4Report
from flywheel_pipeline.sources.google.snapshot import Days, read_snapshot, snapshot_days
from flywheel_pipeline.sources.google.stats import ExtractionStats

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


class Ga4Client(Protocol):
    def pages(
        self,
        report: Ga4Report,
        start: date,
        end: date,
        stats: ExtractionStats | None = None,
    ) -> Iterator[ReportPage]:
        """Every row of `report` for the days `start`..`end` (inclusive), page by page."""
        ...

    def served_days(self, report: Ga4Report) -> Days | None:
        """The first and last day the source holds rows of `report` for, when it states them:
        the raw asset deletes its rows of days outside them. None: nothing is deleted."""
        ...


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
    raw["_request_id"] = page.request_id
    raw["_page"] = pd.Series(page.page, index=raw.index, dtype="Int64")
    raw["_loaded_at"] = pd.Timestamp(loaded_at)
    return raw[list(report.column_types)]


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
class DemoGa4Client:
    """Serves the demo business's GA4 reports from the simulator's snapshot, which covers
    exactly the simulated days (google/snapshot.py)."""

    snapshot_dir: Path

    def _path(self, report: Ga4Report) -> Path:
        return self.snapshot_dir / f"{report.table}.parquet"

    def served_days(self, report: Ga4Report) -> Days | None:
        return snapshot_days(self._path(report))

    def pages(
        self,
        report: Ga4Report,
        start: date,
        end: date,
        stats: ExtractionStats | None = None,
    ) -> Iterator[ReportPage]:
        frame = read_snapshot(self._path(report))
        days = pd.to_datetime(frame["date"]).dt.date
        rows = frame[(days >= start) & (days <= end)].reset_index(drop=True)
        page = ReportPage(rows, request_id=f"demo:{report.table}", page=0)
        if stats is not None:
            stats.requests += 1
            stats.add_page(len(rows), page.flags)
        yield page
