"""What GA4 and Search Console clients share: what a client is to an asset (ReportClient),
the lineage every raw row carries (with_lineage), and the demo client, which serves a report's
rows from the simulator's snapshot covering exactly the simulated days (google/snapshot.py).
Each source says only how snapshot rows become one of its pages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import pandas as pd

from flywheel_pipeline.sources.google.snapshot import Days, read_snapshot, snapshot_days
from flywheel_pipeline.sources.google.stats import ExtractionStats


class Report(Protocol):
    @property
    def table(self) -> str: ...


class Page(Protocol):
    """A page of a report's rows, with its lineage: the request that brought it and its
    number among the request's pages."""

    @property
    def rows(self) -> pd.DataFrame: ...

    @property
    def request_id(self) -> str: ...

    @property
    def page(self) -> int: ...


ReportT = TypeVar("ReportT", bound=Report)
PageT = TypeVar("PageT", bound=Page)


class ReportClient(Protocol[ReportT, PageT]):
    def pages(
        self,
        report: ReportT,
        start: date,
        end: date,
        stats: ExtractionStats | None = None,
    ) -> Iterator[PageT]:
        """Every row of `report` for the days `start`..`end` (inclusive), page by page."""
        ...

    def served_days(self, report: ReportT) -> Days | None:
        """The first and last day the source holds rows of `report` for, when it states them:
        the raw asset deletes its rows of days outside them. None: nothing is deleted."""
        ...


def with_lineage(
    raw: pd.DataFrame, page: Page, loaded_at: datetime, columns: Iterable[str]
) -> pd.DataFrame:
    """`raw`, a page's typed rows, with its lineage (`_request_id`, `_page`, `_loaded_at`), in
    the raw table's column order."""
    raw["_request_id"] = page.request_id
    raw["_page"] = pd.Series(page.page, index=raw.index, dtype="Int64")
    raw["_loaded_at"] = pd.Timestamp(loaded_at)
    return raw[list(columns)]


@dataclass(frozen=True)
class DemoClient(Generic[ReportT, PageT]):
    """Serves `<snapshot_dir>/<report.table>.parquet` as one page; a source's subclass makes
    the page (`_page`) and names the data-quality flags it carries (`_flags`)."""

    snapshot_dir: Path

    def _path(self, report: ReportT) -> Path:
        return self.snapshot_dir / f"{report.table}.parquet"

    def _page(self, report: ReportT, rows: pd.DataFrame) -> PageT:
        raise NotImplementedError

    def _flags(self, page: PageT) -> Iterable[str]:
        return ()

    def served_days(self, report: ReportT) -> Days | None:
        return snapshot_days(self._path(report))

    def pages(
        self,
        report: ReportT,
        start: date,
        end: date,
        stats: ExtractionStats | None = None,
    ) -> Iterator[PageT]:
        frame = read_snapshot(self._path(report))
        days = pd.to_datetime(frame["date"]).dt.date
        page = self._page(report, frame[(days >= start) & (days <= end)].reset_index(drop=True))
        if stats is not None:
            stats.requests += 1
            stats.add_page(len(page.rows), self._flags(page))
        yield page
