"""Load what is new in a landing folder: each file version exactly once, atomically.

For each file of a source's folder, in path order:

- Its path and content hash are looked up in `raw.file_manifest`. A file whose latest version
  has the same hash, read under the same mapping (`DropSource.reading_key`: its folder's
  mapping.yaml and the time zone), is skipped: a rerun writes nothing and leaves every table
  as it was.
- Otherwise it is a new file, or a new version of a known path (new content, or a changed
  mapping: a file rejected or loaded under the old one is read again). Its rows are parsed in
  bounded chunks, each committed to staging tables (`StagedAppend`), so memory stays flat
  whatever the file's size. Then one transaction deletes what the path's earlier version left
  (its raw rows and its `raw.quarantine` rows), inserts the staged rows and bad records, and
  adds the version to the manifest: readers see all of a file version or none of it, and a
  crash before the commit leaves nothing of it (staging is dropped on the next load).
- A file rejected as a whole is recorded (status `rejected`, the error) and not read again
  until its content or its mapping changes; rows of an earlier good version of the path stay.
- Each file load is stamped with its own `_loaded_at`, later than every load before it, so
  staging's dedupe rule (latest `_loaded_at`, then `_source_file`, then `_line`, all
  descending) keeps the row of the file loaded last and, within a file, the later line.

A file removed from the folder keeps its rows: the landing folder is an inbox, not a mirror.
Unless the folder says otherwise: a writer that mirrors files of its own into a folder (the
demo rewriting its `demo_*` files) marks it with a `.flywheel-mirror` file naming those files
(`MIRROR_FILE`, glob patterns). The folder's load then retires (`retire_files`) every file the
manifest holds that matches a pattern and is no longer in the folder: its rows go with it.
This is decided from the manifest and the folder as they stand, not from what a writer just
removed, so a load after a writer that died half-way still makes the tables match the folder.
Files no pattern matches keep the inbox rule.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from flywheel_pipeline.metadata import utc_now
from flywheel_pipeline.sources.files import manifest
from flywheel_pipeline.sources.files.conversations import (
    CONVERSATIONS,
    MESSAGES,
    PATTERNS,
    read_conversation_file,
)
from flywheel_pipeline.sources.files.csv_records import BLOCK_BYTES
from flywheel_pipeline.sources.files.mapping import MAPPING_FILE, read_folder_mapping
from flywheel_pipeline.sources.files.parsed import (
    FileRejected,
    ParsedChunk,
    RowProblem,
    guard_parsing,
)
from flywheel_pipeline.sources.files.schemas import (
    CONVERSATION_COLUMNS,
    CONVERSATIONS_FOLDER,
    CONVERSATIONS_SOURCE,
    CRM_TABLES,
    DECISIONS,
    EXTRA_COLUMN_TYPE,
    MESSAGE_COLUMNS,
    QUARANTINE_RELATION,
    QUARANTINE_SQL_COLUMNS,
    FileTable,
)
from flywheel_pipeline.sources.files.tables import list_files, read_table_file
from flywheel_pipeline.warehouse import (
    StagedAppend,
    add_missing_columns,
    create_table_if_missing,
    memory_limit,
    transaction,
)

# DuckDB's own default lets it cache up to 80 % of RAM. Capped while loading, staging, the
# publish and the checkpoint spill to disk instead: a 1 GB file needs no more memory than a
# 100 MB one (benchmarks/bench_file_loading.py).
LOAD_MEMORY_LIMIT = "128MB"


# A folder's mirror marker: one glob pattern a line (matched against file names; `#` starts a
# comment). Files matching one are mirrored from elsewhere: when gone, their rows go too.
MIRROR_FILE = ".flywheel-mirror"


def mirror_marker(patterns: Collection[str], *, owner: str) -> str:
    """The text of a mirror marker for `patterns`, saying who writes the mirrored files."""
    return (
        f"# Files of this folder named as below are mirrored here by {owner}.\n"
        "# When one is removed, the folder's loader withdraws its rows (a retired version in\n"
        "# raw.file_manifest). Other files keep their rows when removed. Delete this file to\n"
        "# keep the rows of removed files again.\n" + "".join(f"{p}\n" for p in patterns)
    )


def mirrored_patterns(folder: Path) -> tuple[str, ...]:
    """The patterns `folder`'s mirror marker names (none without a marker)."""
    try:
        text = (folder / MIRROR_FILE).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ()
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line for line in lines if line)


def _mirrored(file: str, patterns: Collection[str]) -> bool:
    name = file.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@dataclass(frozen=True)
class DropSource:
    """One landing folder and the raw tables its files feed."""

    name: str  # `source` in raw.quarantine and raw.file_manifest
    folder: str
    patterns: tuple[str, ...]
    # relation -> declared columns (name -> SQL type); the first is the one counted as rows
    tables: Mapping[str, Mapping[str, str]]
    parse: Callable[[Path, str], Iterator[ParsedChunk]]
    # What the folder's files are read under besides their content, as a hash (landing
    # folder -> key; None: nothing): a file read under another key is read again.
    reading_key: Callable[[Path], str | None] = lambda landing_dir: None
    # Files of the folder that say how to read (or reconcile) the others: the landing sensor
    # watches them. Any folder may be marked as a mirror.
    settings_files: tuple[str, ...] = (MIRROR_FILE,)


def table_drop(
    table: FileTable, *, block_bytes: int = BLOCK_BYTES, timezone: str | None = None
) -> DropSource:
    """The drop of `table`'s folder, read under its mapping.yaml, with `timezone` for
    timestamps without an offset (FLYWHEEL_TIMEZONE) unless the mapping states one."""

    def parse(path: Path, file: str) -> Iterator[ParsedChunk]:
        return read_table_file(table, path, file, block_bytes=block_bytes, timezone=timezone)

    def reading_key(landing_dir: Path) -> str | None:
        return read_folder_mapping(landing_dir / table.folder, table).reading_key(timezone)

    return DropSource(
        table.name,
        table.folder,
        table.patterns,
        {table.relation: table.sql_columns},
        parse,
        reading_key,
        (MAPPING_FILE, MIRROR_FILE) if table.mappable else (MIRROR_FILE,),
    )


CONVERSATIONS_DROP = DropSource(
    CONVERSATIONS_SOURCE,
    CONVERSATIONS_FOLDER,
    PATTERNS,
    {CONVERSATIONS: CONVERSATION_COLUMNS, MESSAGES: MESSAGE_COLUMNS},
    read_conversation_file,
)
CRM_DROPS = tuple(table_drop(table) for table in CRM_TABLES)
# Every landing folder the loaders read, one raw asset (or multi-asset) each.
FILE_DROPS: tuple[DropSource, ...] = (*CRM_DROPS, CONVERSATIONS_DROP, table_drop(DECISIONS))


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file version this run."""

    file: str
    version: int
    status: manifest.Status
    rows: int
    quarantined: int
    error: str | None = None


@dataclass
class DropReport:
    """What one run of a source's loader did, file by file."""

    source: str
    outcomes: list[FileOutcome] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Unchanged files whose content was rejected on an earlier run: file -> the error.
    still_rejected: dict[str, str] = field(default_factory=dict)
    # Written to while being read: left for the next run, nothing of them loaded.
    changed_while_loading: list[str] = field(default_factory=list)
    # In the manifest, gone from the folder: their rows stay in the raw tables.
    gone: list[str] = field(default_factory=list)
    # Gone from a folder that mirrors them (MIRROR_FILE): their rows were retired this run.
    retired: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "loaded"]

    @property
    def rejected(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "rejected"]

    @property
    def new_versions(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.version > 1]

    @property
    def rows_loaded(self) -> int:
        return sum(o.rows for o in self.outcomes)

    @property
    def rows_quarantined(self) -> int:
        return sum(o.quarantined for o in self.outcomes)


def ensure_tables(conn: duckdb.DuckDBPyConnection, source: DropSource) -> None:
    """The raw tables exist with their declared columns even before any file arrives."""
    for relation, columns in source.tables.items():
        create_table_if_missing(conn, relation, columns)
        add_missing_columns(conn, relation, columns)  # a column declared since it was made
    create_table_if_missing(conn, QUARANTINE_RELATION, QUARANTINE_SQL_COLUMNS)
    manifest.ensure_manifest(conn)


def load_new_files(
    conn: duckdb.DuckDBPyConnection,
    source: DropSource,
    landing_dir: Path,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> DropReport:
    ensure_tables(conn, source)
    known = manifest.latest_versions(conn, source.name)
    report = DropReport(source.name)
    present: set[str] = set()
    key = source.reading_key(landing_dir)
    with memory_limit(conn, LOAD_MEMORY_LIMIT):
        for path in list_files(landing_dir, source.folder, source.patterns):
            file = path.relative_to(landing_dir).as_posix()
            present.add(file)
            _load_if_new(conn, source, path, file, known.get(file), key, report, clock)
        if report.outcomes:
            # Written now, under the cap: at close, DuckDB would checkpoint without it.
            conn.execute("checkpoint")
    gone = sorted(
        file for file, entry in known.items() if file not in present and entry.status != "retired"
    )
    patterns = mirrored_patterns(landing_dir / source.folder)
    mirrored = [file for file in gone if _mirrored(file, patterns)]
    report.retired = retire_files(conn, source, mirrored, clock=clock)
    report.gone = [file for file in gone if file not in mirrored]
    return report


def live_files(conn: duckdb.DuckDBPyConnection, source: DropSource) -> list[str]:
    """Files of `source` the manifest knows and whose rows were not retired."""
    ensure_tables(conn, source)
    known = manifest.latest_versions(conn, source.name)
    return sorted(file for file, entry in known.items() if entry.status != "retired")


def retire_files(
    conn: duckdb.DuckDBPyConnection,
    source: DropSource,
    files: Collection[str],
    *,
    clock: Callable[[], datetime] = utc_now,
) -> list[str]:
    """Withdraw what `files` (paths relative to the landing folder) left in the raw tables.

    For files a folder mirrors (`MIRROR_FILE`; `load_new_files` calls it), not for real drops
    (a removed file keeps its rows). In one transaction: the files' rows and quarantine rows
    are deleted and each file gets a `retired` manifest version, so dropped again it loads
    again. Files unknown to the manifest or already retired are left as they are. Returns the
    files retired.
    """
    ensure_tables(conn, source)
    known = manifest.latest_versions(conn, source.name)
    retiring = sorted(f for f in set(files) if f in known and known[f].status != "retired")
    if not retiring:
        return []
    with transaction(conn):
        for relation in source.tables:
            conn.execute(f"delete from {relation} where list_contains(?, _source_file)", [retiring])
        conn.execute(
            f"delete from {QUARANTINE_RELATION} where source = ? and list_contains(?, file)",
            [source.name, retiring],
        )
        for file in retiring:
            manifest.record(conn, _retired(conn, known[file], clock()))
    return retiring


def _retired(
    conn: duckdb.DuckDBPyConnection, latest: manifest.ManifestEntry, now: datetime
) -> manifest.ManifestEntry:
    return dataclasses.replace(
        latest,
        version=latest.version + 1,
        sha256=None,
        size_bytes=None,
        status="retired",
        rows_loaded=0,
        rows_quarantined=0,
        error=None,
        loaded_at=manifest.next_loaded_at(conn, now),
    )


def _load_if_new(
    conn: duckdb.DuckDBPyConnection,
    source: DropSource,
    path: Path,
    file: str,
    latest: manifest.ManifestEntry | None,
    key: str | None,
    report: DropReport,
    clock: Callable[[], datetime],
) -> None:
    seen = _stat(path)
    if seen is None:  # removed since the folder was listed
        return
    sha256 = manifest.file_sha256(path)
    if latest is not None and latest.sha256 == sha256 and latest.mapping_sha256 == key:
        if latest.status == "rejected":
            report.still_rejected[file] = latest.error or ""
        else:
            report.unchanged.append(file)
        return
    entry = manifest.ManifestEntry(
        source=source.name,
        file=file,
        version=latest.version + 1 if latest is not None else 1,
        sha256=sha256,
        size_bytes=seen.size,
        status="loaded",
        rows_loaded=0,
        rows_quarantined=0,
        error=None,
        loaded_at=manifest.next_loaded_at(conn, clock()),
        mapping_sha256=key,
    )
    outcome = _load_file(conn, source, path, entry, seen)
    if outcome is None:
        report.changed_while_loading.append(file)
    else:
        report.outcomes.append(outcome)


def _load_file(
    conn: duckdb.DuckDBPyConnection,
    source: DropSource,
    path: Path,
    entry: manifest.ManifestEntry,
    seen: _Stamp,
) -> FileOutcome | None:
    file = entry.file
    try:
        with ExitStack() as stack:
            quarantine = stack.enter_context(
                StagedAppend(conn, QUARANTINE_RELATION, QUARANTINE_SQL_COLUMNS)
            )
            stages: dict[str, StagedAppend] = {}
            for chunk in guard_parsing(source.parse(path, file), file):
                for relation, rows in chunk.frames.items():
                    stage = stages.get(relation)
                    if stage is None:
                        columns = _columns(source.tables[relation], rows)
                        stage = stages[relation] = StagedAppend(conn, relation, columns)
                        stack.enter_context(stage)
                    stage.append(_stamped(rows, entry.loaded_at))
                if chunk.problems:
                    quarantine.append(_quarantine_rows(chunk.problems, source.name, entry))
            if _stat(path) != seen:
                return None  # the writer is not done: what was read may be half a file

            primary = next(iter(source.tables))
            loaded = dataclasses.replace(
                entry,
                rows_loaded=stages[primary].rows if primary in stages else 0,
                rows_quarantined=quarantine.rows,
            )
            with transaction(conn):  # the file's rows, bad records and manifest row, together
                for relation in source.tables:
                    if relation in stages:
                        stages[relation].publish("_source_file = ?", [file])
                    else:
                        conn.execute(f"delete from {relation} where _source_file = ?", [file])
                quarantine.publish("source = ? and file = ?", [source.name, file])
                manifest.record(conn, loaded)
            return FileOutcome(
                file, entry.version, "loaded", loaded.rows_loaded, loaded.rows_quarantined
            )
    except FileRejected as exc:
        rejected = dataclasses.replace(entry, status="rejected", error=str(exc))
        with transaction(conn):
            manifest.record(conn, rejected)
        return FileOutcome(file, entry.version, "rejected", 0, 0, str(exc))


class _Stamp(NamedTuple):
    """Changes when a file is rewritten or replaced, without reading it."""

    size: int
    mtime_ns: int
    inode: int


def _stat(path: Path) -> _Stamp | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return _Stamp(stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _columns(declared: Mapping[str, str], rows: pa.Table) -> dict[str, str]:
    """The declared columns, then the file's extra columns as text."""
    known = {name.lower() for name in declared}
    extras = {c: EXTRA_COLUMN_TYPE for c in rows.column_names if c.lower() not in known}
    return {**declared, **extras}


def _stamped(rows: pa.Table, loaded_at: datetime) -> pa.Table:
    stamp = np.full(rows.num_rows, np.datetime64(loaded_at, "us"))
    return rows.append_column("_loaded_at", pa.array(stamp, type=pa.timestamp("us")))


def _quarantine_rows(
    problems: list[RowProblem], source: str, entry: manifest.ManifestEntry
) -> pd.DataFrame:
    rows = pd.DataFrame([p.quarantine_row(source, entry.file) for p in problems])
    rows["_loaded_at"] = entry.loaded_at
    return rows
