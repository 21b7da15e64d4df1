"""Turn GA4 report pages into raw rows: typed values, data-quality flags, request lineage.

Live and demo clients yield the same `ReportPage`s for a report over a date range, so
everything from here on is shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

from flywheel_pipeline.sources.ga4.reports import Ga4Report

FLAG_COLUMNS = ["is_sampled", "subject_to_thresholding", "has_other_row"]
LINEAGE_COLUMNS = ["_request_id", "_page", "_loaded_at"]


@dataclass(frozen=True)
class ReportPage:
    rows: pd.DataFrame  # snake_case columns of the report, values as the API gives them
    request_id: str
    page: int
    is_sampled: bool = False
    subject_to_thresholding: bool = False
    has_other_row: bool = False


@dataclass
class ExtractionStats:
    """What one extraction cost and found; clients fill it in as pages go by.

    `requests` counts successful requests (one per page), `retries` the failed attempts that
    were retried, `rows` the rows received; the flags are true when any page carried them.
    """

    requests: int = 0
    retries: int = 0
    rows: int = 0
    is_sampled: bool = False
    subject_to_thresholding: bool = False
    has_other_row: bool = False

    def add_page(self, page: ReportPage) -> None:
        self.requests += 1
        self.rows += len(page.rows)
        self.is_sampled |= page.is_sampled
        self.subject_to_thresholding |= page.subject_to_thresholding
        self.has_other_row |= page.has_other_row

    @property
    def flags_set(self) -> list[str]:
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


def to_raw_rows(
    report: Ga4Report, pages: Iterator[ReportPage], loaded_at: datetime
) -> pd.DataFrame:
    frames = []
    for page in pages:
        frame = page.rows.reindex(columns=report.columns).copy()
        frame["is_sampled"] = page.is_sampled
        frame["subject_to_thresholding"] = page.subject_to_thresholding
        frame["has_other_row"] = page.has_other_row
        frame["_request_id"] = page.request_id
        frame["_page"] = page.page
        frames.append(frame)
    columns = [*report.columns, *FLAG_COLUMNS, "_request_id", "_page"]
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    # The API gives `20240131`, the demo snapshot timestamps: both parse.
    raw["date"] = pd.to_datetime(raw["date"].astype("string"), format="mixed").dt.date
    for column in report.integer_columns:
        raw[column] = pd.to_numeric(raw[column]).astype("Int64")
    for column in report.float_columns:
        raw[column] = pd.to_numeric(raw[column]).astype("float64")
    for column in FLAG_COLUMNS:
        raw[column] = raw[column].astype("boolean")
    raw["_page"] = raw["_page"].astype("Int64")
    raw["_loaded_at"] = pd.Timestamp(loaded_at)
    return raw[[*columns, "_loaded_at"]]


@dataclass(frozen=True)
class DemoGa4Client:
    """Serves the demo business's GA4 reports from the simulator's snapshot."""

    snapshot_dir: Path

    def _snapshot(self, report: Ga4Report) -> pd.DataFrame:
        path = self.snapshot_dir / f"{report.table}.parquet"
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: no demo GA4 snapshot; materialise demo/business first"
            )
        return pd.read_parquet(path)

    def date_range(self, report: Ga4Report) -> tuple[date, date]:
        """First and last day the snapshot holds (the demo asset extracts all of it)."""
        days = pd.to_datetime(self._snapshot(report)["date"])
        if days.empty:
            raise ValueError(f"demo GA4 snapshot {report.table} is empty")
        return days.min().date(), days.max().date()

    def pages(
        self,
        report: Ga4Report,
        start: date,
        end: date,
        stats: ExtractionStats | None = None,
    ) -> Iterator[ReportPage]:
        frame = self._snapshot(report)
        days = pd.to_datetime(frame["date"]).dt.date
        rows = frame[(days >= start) & (days <= end)].reset_index(drop=True)
        page = ReportPage(rows, request_id=f"demo:{report.table}", page=0)
        if stats is not None:
            stats.add_page(page)
        yield page
