"""What parsing a landing file yields, and the limits that keep one bad file cheap.

A parser turns one file into `ParsedChunk`s, each a bounded slice of rows per raw table plus
the records of that slice that broke a rule (`RowProblem`: line, field, reason), which go to
`raw.quarantine` while the other rows load. A file that is unusable as a whole (unreadable,
no header, a required column missing…) raises `FileRejected` and nothing of it loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

# One record (a CSV row, a JSONL line) may be at most this long. Bigger ones are quarantined
# unread, so memory stays bounded whatever a file contains (a runaway quote, a binary blob).
MAX_RECORD_BYTES = 2 * 1024 * 1024
# How much of a bad record `raw.quarantine.record` keeps: enough to recognise it.
EXCERPT_CHARS = 2000


class FileRejected(Exception):
    """The whole file is unusable; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class RowProblem:
    """One record that breaks a rule; `reason` reads "<field>: <problem>"."""

    line: int
    field_name: str
    problem: str
    record: str

    @property
    def reason(self) -> str:
        return f"{self.field_name}: {self.problem}"

    def quarantine_row(self, source: str, file: str) -> dict:
        return {
            "source": source,
            "file": file,
            "line": self.line,
            "field": self.field_name,
            "reason": self.reason,
            "record": self.record,
        }


def excerpt(data: bytes) -> str:
    """The start of a record as text, whatever its bytes (invalid UTF-8 shows as �)."""
    return data[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def size_text(size: int) -> str:
    return f"{size:,} bytes (limit {MAX_RECORD_BYTES // (1024 * 1024)} MiB per record)"


@dataclass
class ParsedChunk:
    """Rows for each raw table (relation -> Arrow table, lineage but `_loaded_at` included)
    and the records that broke a rule."""

    frames: dict[str, pa.Table] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)


def guard_parsing(chunks: Iterator[ParsedChunk], file: str) -> Iterator[ParsedChunk]:
    """`chunks`, with any failure to parse the file turned into its rejection.

    A corrupt file must not fail the run (the other files still load). I/O and memory errors
    belong to the machine, not the file: they propagate, so the file is tried again on the
    next run instead of being recorded as rejected.
    """
    try:
        yield from chunks
    except (FileRejected, OSError, MemoryError):
        raise
    except Exception as exc:
        raise FileRejected(f"{file}: unreadable ({type(exc).__name__}: {exc})") from exc
