"""Turn Search Console `searchanalytics.query` pages into raw rows with lineage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

DIMENSIONS = ("date", "query", "page", "country", "device")
METRICS = ("clicks", "impressions", "ctr", "position")
RAW_TABLE = "gsc_search_analytics"
# Column types of raw.gsc_search_analytics (docs/contracts.md), fixed up front so that an
# empty extraction or a page with an all-null column still gives the same table.
RAW_COLUMN_TYPES = {
    "date": "DATE",
    "query": "VARCHAR",
    "page": "VARCHAR",
    "country": "VARCHAR",
    "device": "VARCHAR",
    "clicks": "BIGINT",
    "impressions": "BIGINT",
    "ctr": "DOUBLE",
    "position": "DOUBLE",
    "data_state": "VARCHAR",
    "first_incomplete_date": "DATE",
    "_request_id": "VARCHAR",
    "_page": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}
COLUMNS = list(RAW_COLUMN_TYPES)


@dataclass(frozen=True)
class QueryPage:
    """One page of a `searchanalytics.query` response, with its lineage.

    `data_state` is the request's dataState (`final` or `all`); with `all`, days on or after
    `first_incomplete_date` are still being collected and may change. `attempts` counts the
    HTTP requests it took to get this page (1 = no retry).
    """

    rows: pd.DataFrame  # date, query, page, country, device, clicks, impressions, ctr, position
    request_id: str
    page: int
    data_state: str = "final"
    first_incomplete_date: date | None = None
    attempts: int = 1


class SearchConsoleClient(Protocol):
    def pages(self, start: date | None = None, end: date | None = None) -> Iterator[QueryPage]:
        """Pages of rows for days `start`..`end` inclusive (None: unbounded on that side)."""
        ...


def page_frame(page: QueryPage, loaded_at: datetime) -> pd.DataFrame:
    """One page as raw rows: typed columns in `COLUMNS` order, lineage filled in."""
    frame = page.rows.reindex(columns=[*DIMENSIONS, *METRICS])
    dates = frame["date"]
    if not pd.api.types.is_datetime64_any_dtype(dates):
        dates = pd.to_datetime(dates.astype("string"), format="ISO8601")
    raw = pd.DataFrame(
        {
            "date": dates.dt.date,
            **{column: frame[column].astype("string") for column in DIMENSIONS[1:]},
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
    raw["_request_id"] = page.request_id
    raw["_page"] = pd.Series(page.page, index=raw.index, dtype="Int64")
    raw["_loaded_at"] = pd.Timestamp(loaded_at)
    return raw[COLUMNS]


def to_raw_rows(pages: Iterable[QueryPage], loaded_at: datetime) -> pd.DataFrame:
    """All pages as one frame (small extractions and tests; the asset streams instead)."""
    frames = [page_frame(page, loaded_at) for page in pages]
    if frames:
        return pd.concat(frames, ignore_index=True)
    return page_frame(
        QueryPage(pd.DataFrame(columns=[*DIMENSIONS, *METRICS]), request_id="", page=0),
        loaded_at,
    )


@dataclass(frozen=True)
class DemoSearchConsoleClient:
    """Serves the demo business's Search Console rows from the simulator's snapshot."""

    snapshot_dir: Path

    def pages(self, start: date | None = None, end: date | None = None) -> Iterator[QueryPage]:
        path = self.snapshot_dir / f"{RAW_TABLE}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no demo snapshot; materialise demo/business first")
        rows = pd.read_parquet(path)
        if start is not None or end is not None:
            days = pd.to_datetime(rows["date"]).dt.date
            keep = pd.Series(True, index=rows.index)
            if start is not None:
                keep &= days >= start
            if end is not None:
                keep &= days <= end
            rows = rows[keep].reset_index(drop=True)
        yield QueryPage(rows, request_id=f"demo:{RAW_TABLE}", page=0)
