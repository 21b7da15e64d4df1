"""Turn Search Console `searchanalytics.query` pages into raw rows with lineage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

DIMENSIONS = ("date", "query", "page", "country", "device")
METRICS = ("clicks", "impressions", "ctr", "position")
RAW_TABLE = "gsc_search_analytics"
COLUMNS = [
    *DIMENSIONS,
    *METRICS,
    "data_state",
    "first_incomplete_date",
    "_request_id",
    "_page",
    "_loaded_at",
]


@dataclass(frozen=True)
class QueryPage:
    rows: pd.DataFrame  # date, query, page, country, device, clicks, impressions, ctr, position
    request_id: str
    page: int
    data_state: str = "final"
    first_incomplete_date: date | None = None


class SearchConsoleClient(Protocol):
    def pages(self) -> Iterator[QueryPage]: ...


def to_raw_rows(pages: Iterator[QueryPage], loaded_at: datetime) -> pd.DataFrame:
    frames = []
    for page in pages:
        frame = page.rows.reindex(columns=[*DIMENSIONS, *METRICS]).copy()
        frame["data_state"] = page.data_state
        frame["first_incomplete_date"] = page.first_incomplete_date
        frame["_request_id"] = page.request_id
        frame["_page"] = page.page
        frames.append(frame)
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    raw["date"] = pd.to_datetime(raw["date"].astype("string"), format="mixed").dt.date
    raw["first_incomplete_date"] = pd.to_datetime(raw["first_incomplete_date"]).dt.date
    for column in ("clicks", "impressions", "_page"):
        raw[column] = pd.to_numeric(raw[column]).astype("Int64")
    for column in ("ctr", "position"):
        raw[column] = pd.to_numeric(raw[column]).astype("float64")
    raw["_loaded_at"] = pd.Timestamp(loaded_at)
    return raw[COLUMNS]


@dataclass(frozen=True)
class DemoSearchConsoleClient:
    """Serves the demo business's Search Console rows from the simulator's snapshot."""

    snapshot_dir: Path

    def pages(self) -> Iterator[QueryPage]:
        path = self.snapshot_dir / f"{RAW_TABLE}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no demo snapshot; materialise demo/business first")
        yield QueryPage(pd.read_parquet(path), request_id=f"demo:{RAW_TABLE}", page=0)
