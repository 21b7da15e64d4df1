"""`raw.file_manifest`: every version of every landing file the loaders have seen.

One row per file version (source, file path relative to the landing folder, version): its
content hash and size, the hash of what it was read under besides its content (its folder's
mapping.yaml and the time zone; null when neither), whether it was loaded or rejected (with
the error), how many rows it loaded and quarantined, and when. A path whose latest version
has the same hashes is not read again; a different content or mapping is a new version of
that path. A path whose rows the loader withdrew (a mirrored file gone from its folder,
`drops.retire_files`) gets a `retired` version without hash or size, so the same content
dropped there again loads again. Rows are only ever inserted, so the manifest is the history
of what was loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb

from flywheel_pipeline.warehouse import add_missing_columns, create_table_if_missing, fetch_value

MANIFEST_RELATION = "raw.file_manifest"
MANIFEST_COLUMNS = {
    "source": "VARCHAR",
    "file": "VARCHAR",
    "version": "INTEGER",
    "sha256": "VARCHAR",
    "size_bytes": "BIGINT",
    "status": "VARCHAR",
    "rows_loaded": "BIGINT",
    "rows_quarantined": "BIGINT",
    "error": "VARCHAR",
    "loaded_at": "TIMESTAMP",
    "mapping_sha256": "VARCHAR",
}
Status = Literal["loaded", "rejected", "retired"]


@dataclass(frozen=True)
class ManifestEntry:
    source: str
    file: str
    version: int
    sha256: str | None  # None for `retired`
    size_bytes: int | None
    status: Status
    rows_loaded: int
    rows_quarantined: int
    error: str | None
    loaded_at: datetime
    mapping_sha256: str | None = None  # see mapping.FolderMapping.reading_key


def ensure_manifest(conn: duckdb.DuckDBPyConnection) -> None:
    create_table_if_missing(conn, MANIFEST_RELATION, MANIFEST_COLUMNS)
    add_missing_columns(conn, MANIFEST_RELATION, MANIFEST_COLUMNS)  # a manifest of before


def latest_versions(conn: duckdb.DuckDBPyConnection, source: str) -> dict[str, ManifestEntry]:
    """The latest version of each file of `source`, by path."""
    rows = conn.execute(
        f"select {', '.join(MANIFEST_COLUMNS)} from {MANIFEST_RELATION} where source = ? "
        "qualify row_number() over (partition by file order by version desc) = 1",
        [source],
    ).fetchall()
    return {row[1]: ManifestEntry(*row) for row in rows}


@dataclass(frozen=True)
class DropSummary:
    """One source's landing files as they stand: the latest version of each path."""

    source: str
    files: int
    loaded: int
    rejected: int
    rows_loaded: int
    rows_quarantined: int
    last_loaded_at: datetime | None


def summary(conn: duckdb.DuckDBPyConnection) -> list[DropSummary]:
    """Per source, its files' latest versions (retired paths left out), by source name."""
    rows = conn.execute(
        "select source, count(*), count(*) filter (status = 'loaded'), "
        "count(*) filter (status = 'rejected'), coalesce(sum(rows_loaded), 0), "
        "coalesce(sum(rows_quarantined), 0), max(loaded_at) filter (status = 'loaded') "
        f"from (select * from {MANIFEST_RELATION} "
        "qualify row_number() over (partition by source, file order by version desc) = 1) "
        "where status <> 'retired' group by source order by source"
    ).fetchall()
    return [DropSummary(*row) for row in rows]


def last_loaded_at(conn: duckdb.DuckDBPyConnection, source: str) -> datetime | None:
    """When rows last arrived from `source`: its latest loaded file version (None if none)."""
    latest = fetch_value(
        conn,
        f"select max(loaded_at) from {MANIFEST_RELATION} where source = ? and status = 'loaded'",
        [source],
    )
    return latest


def next_loaded_at(conn: duckdb.DuckDBPyConnection, now: datetime) -> datetime:
    """`now`, or just after the latest load if the clock says otherwise.

    Staging keeps the row with the latest `_loaded_at`, so each file load must be stamped
    later than every load before it, even when two loads fall in the same microsecond or the
    wall clock steps back.
    """
    latest = fetch_value(conn, f"select max(loaded_at) from {MANIFEST_RELATION}")
    if latest is not None and now <= latest:
        return latest + timedelta(microseconds=1)
    return now


def record(conn: duckdb.DuckDBPyConnection, entry: ManifestEntry) -> None:
    placeholders = ", ".join("?" for _ in MANIFEST_COLUMNS)
    conn.execute(
        f"insert into {MANIFEST_RELATION} ({', '.join(MANIFEST_COLUMNS)}) values ({placeholders})",
        [getattr(entry, column) for column in MANIFEST_COLUMNS],
    )


def file_sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
