"""Read a CSV file in blocks of records, each with the physical line it starts on.

pandas' C parser is fast, but it cannot say on which line a row started and one bad row stops
it. So this module finds the record boundaries itself, with numpy over blocks of bytes, hands
pandas only well-formed records, and reports every other record with its line number:

- Quoting is pandas' and Python's csv module's: a `"` opens a quoted field only at the start
  of a field; inside one, `""` is a literal quote and a single `"` closes it; any other `"` is
  plain text (`55" TV`). A newline inside a quoted field belongs to the value, so a record may
  span lines; it is numbered by its first line (the header is line 1).
- A record with the wrong number of fields, a quoted field that never closes, more than
  MAX_RECORD_BYTES or invalid UTF-8 becomes a `RowProblem`; the other records load.
- When such a record spans several lines (an unbalanced quote swallowed the lines after it),
  only its first line is reported and reading resumes on the next line: one stray quote cannot
  take the rest of the file with it.
- Blank lines are skipped. A UTF-8 byte-order mark is ignored. Lines end with LF or CRLF.
- Fields are separated by a comma unless the caller names another delimiter, or the header
  line (outside quotes) holds exactly one of `;`, tab or `|` and no comma.
- Text is UTF-8. A file in another encoding is read through `Transcoded` (the caller states
  the encoding; a UTF-16 byte-order mark is recognised). A file that is not UTF-8 at all (its
  header, or its first non-ASCII record, is not) is rejected with `advice` on how to state
  its encoding; invalid UTF-8 in a record after valid non-ASCII text is that record's problem.

Memory holds one block plus at most one unfinished record, whatever the file's size.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from flywheel_pipeline.sources.files.parsed import (
    EXCERPT_CHARS,
    MAX_RECORD_BYTES,
    FileRejected,
    RowProblem,
    excerpt,
    size_text,
)

BLOCK_BYTES = 8 * 1024 * 1024
# After a resync, scan this far ahead first (doubling while the lines parse), so a file full
# of unbalanced quotes costs time in proportion to its size, not its size squared.
RESYNC_WINDOW = 64 * 1024
NL, CR, QUOTE, COMMA = 10, 13, 34, 44
BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# The other delimiters exports use: detected from the header when it holds just one of them.
OTHER_DELIMITERS = {d: label for d, label in DELIMITERS.items() if d != ","}
ENCODING_SETTING = "its encoding as `encoding:` (e.g. `cp1252`, `latin-1`)"
_QUOTED = re.compile(r'"(?:[^"]|"")*"')


@dataclass(frozen=True)
class CsvChunk:
    """Well-formed records as text (one column per header name, "" for empty)."""

    rows: pa.Table
    lines: np.ndarray
    problems: list[RowProblem]


@dataclass(frozen=True)
class _Scan:
    """Records found in a run of bytes that starts at the start of a record."""

    starts: np.ndarray  # offset of each record
    ends: np.ndarray  # offset of its terminating newline (or of the end of the data)
    fields: np.ndarray  # number of fields
    newlines: np.ndarray  # offset of every newline, record ends and quoted ones alike
    commas: np.ndarray  # offset of every delimiter that separates fields
    unclosed_last: bool  # the last record opens a quoted field that the file never closes
    consumed: int  # where the next scan starts

    def first_newline_after(self, offset: int) -> int:
        return int(self.newlines[np.searchsorted(self.newlines, offset)])

    def spans_lines(self) -> np.ndarray:
        return np.searchsorted(self.newlines, self.ends) > np.searchsorted(
            self.newlines, self.starts
        )

    def field_at(self, record: int, offset: int) -> int:
        """Index of the field holding byte `offset` of the scanned data."""
        return int(
            np.searchsorted(self.commas, offset) - np.searchsorted(self.commas, self.starts[record])
        )


def _quoted_fields(
    a: np.ndarray, quotes: np.ndarray, delimiter: int = COMMA
) -> tuple[np.ndarray, np.ndarray]:
    """Opening and closing quote of every quoted field (closing = len(a) when it never closes)."""
    first_of_run = np.ones(quotes.size, dtype=bool)
    first_of_run[1:] = quotes[1:] != quotes[:-1] + 1
    run_index = np.flatnonzero(first_of_run)
    run_start = quotes[run_index]
    run_length = np.diff(np.append(run_index, quotes.size))
    run_last = run_start + run_length - 1
    before = a[np.maximum(run_start - 1, 0)]
    at_field_start = (run_start == 0) | (before == delimiter) | (before == NL)
    candidates = np.flatnonzero(at_field_start)
    if candidates.size == 0:
        return candidates, candidates

    # Inside a quoted field quotes come in runs: an even run is escaped quotes, an odd run ends
    # with the closing quote. The opening run itself holds the opener first: if it is even
    # (`""`, `""""`) its last quote closes the field, otherwise the next odd run does.
    odd_runs = np.flatnonzero(run_length % 2 == 1)
    closers = np.full(candidates.size, a.size, dtype=np.int64)
    even_open = run_length[candidates] % 2 == 0
    closers[even_open] = run_last[candidates[even_open]]
    if odd_runs.size:
        following = np.searchsorted(odd_runs, candidates, side="right")
        closes = ~even_open & (following < odd_runs.size)
        closers[closes] = run_last[odd_runs[following[closes]]]
    openers = run_start[candidates]

    # A candidate inside an earlier quoted field (`,"` within a quoted value) opens nothing:
    # follow the chain from each real field to the first candidate after its closing quote.
    after = np.searchsorted(openers, closers, side="right")
    if not np.array_equal(after, np.arange(1, openers.size + 1)):
        real = []
        i = 0
        while i < openers.size:
            real.append(i)
            i = int(after[i])
        openers, closers = openers[real], closers[real]
    return openers, closers


def _outside(positions: np.ndarray, openers: np.ndarray, closers: np.ndarray) -> np.ndarray:
    field = np.searchsorted(openers, positions, side="right") - 1
    return (field < 0) | (positions > closers[np.maximum(field, 0)])


def _scan(a: np.ndarray, final: bool, delimiter: int = COMMA) -> _Scan:
    """Split `a` into records; unless `final`, the unfinished record at the end is left over."""
    newlines = np.flatnonzero(a == NL)
    commas = np.flatnonzero(a == delimiter)
    breaks = newlines
    unclosed = False
    quotes = np.flatnonzero(a == QUOTE)
    if quotes.size:
        openers, closers = _quoted_fields(a, quotes, delimiter)
        if openers.size:
            breaks = newlines[_outside(newlines, openers, closers)]
            commas = commas[_outside(commas, openers, closers)]
            unclosed = bool(closers[-1] == a.size)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.append(breaks, a.size)
    if final and starts[-1] < a.size:
        consumed = a.size
    else:  # the file ends with a newline, or the last record is still arriving
        starts, ends = starts[:-1], ends[:-1]
        consumed = int(breaks[-1]) + 1 if breaks.size else 0
        unclosed = False
    fields = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    return _Scan(starts, ends, fields, newlines, commas, final and unclosed, consumed)


class CsvReader:
    """The header and then the records of one CSV file, read from `stream` block by block.

    `delimiter`: the field separator, or None to detect it from the header. `advice`: how to
    state the file's encoding or delimiter, appended to the rejections that need it.
    """

    def __init__(
        self,
        stream: BinaryIO,
        file: str,
        block_bytes: int = BLOCK_BYTES,
        *,
        delimiter: str | None = None,
        advice: str = "",
    ) -> None:
        self.file = file
        self._stream = stream
        self._block_bytes = block_bytes
        self._buf = b""
        self._pos = 0  # offset in _buf of the next record
        self._line = 1  # physical line number at _pos
        self._eof = False
        self._advice = advice
        self.delimiter = delimiter or ","
        self._detect = delimiter is None
        self._sep = ord(self.delimiter)
        # Valid non-ASCII UTF-8 seen (or a UTF-8 byte-order mark): the file is UTF-8, and
        # invalid bytes after that are a record's problem, not the file's encoding.
        self._utf8_seen = False
        self.header = self._read_header()

    # --- buffer ---------------------------------------------------------------------------

    def _fill(self) -> None:
        data = self._stream.read(self._block_bytes)
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        self._eof = not data

    def _advance(self, offset: int) -> None:
        """Move the read position `offset` bytes on, counting the lines passed."""
        self._line += self._buf.count(b"\n", self._pos, self._pos + offset)
        self._pos += offset

    def _view(self, length: int) -> np.ndarray:
        return np.frombuffer(self._buf, dtype=np.uint8, count=length, offset=self._pos)

    # --- header ---------------------------------------------------------------------------

    def _read_header(self) -> list[str]:
        self._fill()
        if self._eof:
            raise FileRejected(f"{self.file}: empty file (0 bytes); expected a header on line 1")
        if self._buf.startswith(BOM):
            self._pos = len(BOM)
            self._utf8_seen = True
        elif self._buf.startswith(UTF16_BOMS):
            raise FileRejected(
                f"{self.file}, line 1: the file is UTF-16 (byte-order mark {self._buf[:2].hex()}); "
                f"Flywheel reads UTF-8{self._advice_for('`encoding: utf-16`')}"
            )
        if self._detect:
            self.delimiter = self._detected_delimiter()
            self._sep = ord(self.delimiter)
        while True:
            scan = _scan(self._view(len(self._buf) - self._pos), self._eof, self._sep)
            if scan.starts.size:
                break
            if len(self._buf) - self._pos > MAX_RECORD_BYTES:
                raise FileRejected(
                    f"{self.file}, line 1: no end of the header line within "
                    f"{size_text(len(self._buf) - self._pos)}; is this a CSV file?"
                )
            self._fill()
        raw = self._buf[self._pos : self._pos + int(scan.ends[0])]
        self._advance(min(int(scan.ends[0]) + 1, len(self._buf) - self._pos))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileRejected(
                f"{self.file}, line 1: header is not valid UTF-8 "
                f"(byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})"
                f"{self._advice_for(ENCODING_SETTING, 'if the file is in another encoding')}"
            ) from None
        self._utf8_seen = self._utf8_seen or not text.isascii()
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
        names = [name.strip() for name in next(rows, [])]
        if not any(names):
            raise FileRejected(f"{self.file}, line 1: empty header; expected column names")
        seen: dict[str, str] = {}
        for name in names:
            if name.lower() in seen:
                raise FileRejected(
                    f"{self.file}, line 1: duplicate column {name!r} (column names are "
                    "compared without regard to case)"
                )
            seen[name.lower()] = name
        return names

    def _detected_delimiter(self) -> str:
        """The one delimiter the header line holds outside quotes; else the comma."""
        end = self._buf.find(b"\n", self._pos)
        line = self._buf[self._pos : end if end >= 0 else len(self._buf)]
        unquoted = _QUOTED.sub("", line.decode("utf-8", errors="replace"))
        found = [d for d in DELIMITERS if d in unquoted]
        return found[0] if len(found) == 1 else ","

    def _advice_for(self, setting: str, condition: str = "") -> str:
        """`; [condition, ]set <setting> <advice>`, or nothing without advice."""
        if not self._advice:
            return ""
        return f"; {condition + ', ' if condition else ''}set {setting} {self._advice}"

    def delimiter_hint(self) -> str:
        """Why a header may lack the expected columns: the delimiter it was split on."""
        if self.delimiter != ",":
            return f" (header read as {DELIMITERS[self.delimiter]}-separated)"
        if len(self.header) != 1:
            return ""
        looks = " or ".join(
            f"{label}-separated ({d!r})"
            for d, label in OTHER_DELIMITERS.items()
            if d in self.header[0]
        )
        if not looks:
            return ""
        fix = self._advice_for("the one it uses as `delimiter:`")
        return f"; the header looks {looks}, Flywheel reads comma-separated CSV{fix}"

    # --- records --------------------------------------------------------------------------

    def chunks(self) -> Iterator[CsvChunk]:
        window: int | None = None
        while True:
            available = len(self._buf) - self._pos
            if available == 0 and self._eof:
                return
            length = available if window is None else min(available, window)
            final = self._eof and length == available
            scan = _scan(self._view(length), final, self._sep)
            chunk, offset, resynced = self._take(scan)
            if chunk is not None:
                yield chunk
            self._advance(offset)
            if resynced:
                window = RESYNC_WINDOW
                continue
            if length < available:  # a window: widen it and read on
                window = window * 2 if window else None
                continue
            window = None
            if final:
                return
            if len(self._buf) - self._pos > MAX_RECORD_BYTES:
                problem = self._skip_oversized()
                yield CsvChunk(self._empty_rows(), np.empty(0, dtype=np.int64), [problem])
                continue
            self._fill()

    def _empty_rows(self) -> pa.Table:
        return pa.table({name: pa.array([], pa.string()) for name in self.header})

    def _take(self, scan: _Scan) -> tuple[CsvChunk | None, int, bool]:
        """The good records of `scan` as rows, the bad ones as problems; where to go on."""
        length = scan.ends - scan.starts
        blank = length == 0
        one_byte = length == 1
        if one_byte.any():  # a CRLF blank line
            view = self._view(int(scan.ends[-1]))
            blank[one_byte] = view[scan.starts[one_byte]] == CR
        too_long = length > MAX_RECORD_BYTES
        broken = ~blank & ((scan.fields != len(self.header)) | too_long)
        if scan.unclosed_last and scan.starts.size:
            broken[-1] = True

        offset, resynced = scan.consumed, False
        count = scan.starts.size
        problems: list[RowProblem] = []
        multi_line = broken & scan.spans_lines()
        if multi_line.any():
            # An unbalanced quote: report the record's first line, read on from the next one.
            count = int(np.argmax(multi_line))
            start = int(scan.starts[count])
            end = scan.first_newline_after(start)
            first_line = self._buf[self._pos + start : self._pos + end]
            line = int(self._lines(scan, np.array([count]))[0])
            problems.append(self._unbalanced(first_line, line))
            offset, resynced = end + 1, True

        keep = ~blank[:count] & ~broken[:count]
        for index in np.flatnonzero(broken[:count]):
            problems.append(self._broken(scan, int(index)))
        good = np.flatnonzero(keep)
        good, bad_text = self._valid_utf8(scan, good)
        problems.extend(bad_text)
        problems.sort(key=lambda p: p.line)
        if good.size == 0 and not problems:
            return None, offset, resynced
        rows = self._rows(scan, good)
        return CsvChunk(rows, self._lines(scan, good), problems), offset, resynced

    def _lines(self, scan: _Scan, records: np.ndarray) -> np.ndarray:
        before = np.searchsorted(scan.newlines, scan.starts[records])
        return (self._line + before).astype(np.int64)

    def _record_bytes(self, scan: _Scan, index: int) -> bytes:
        start = self._pos + int(scan.starts[index])
        return self._buf[start : self._pos + int(scan.ends[index])]

    def _broken(self, scan: _Scan, index: int) -> RowProblem:
        line = int(self._lines(scan, np.array([index]))[0])
        data = self._record_bytes(scan, index)
        size = len(data)
        if scan.unclosed_last and index == scan.starts.size - 1:
            problem = "quoted field not closed before the end of the file (truncated?)"
            return RowProblem(line, "line", problem, excerpt(data))
        if size > MAX_RECORD_BYTES:
            return RowProblem(line, "line", f"record is {size_text(size)}", excerpt(data))
        problem = f"expected {len(self.header)} fields, found {int(scan.fields[index])}"
        return RowProblem(line, "line", problem, excerpt(data))

    def _unbalanced(self, data: bytes, line: int) -> RowProblem:
        if len(data) > MAX_RECORD_BYTES:
            return RowProblem(line, "line", f"line is {size_text(len(data))}", excerpt(data))
        problem = (
            "unbalanced quote: a quoted field opened on this line does not close within the "
            "record (or the record passes the size limit); reading resumes on the next line"
        )
        return RowProblem(line, "line", problem, excerpt(data))

    def _valid_utf8(self, scan: _Scan, good: np.ndarray) -> tuple[np.ndarray, list[RowProblem]]:
        if good.size == 0:
            return good, []
        first = self._pos + int(scan.starts[good[0]])
        last = self._pos + int(scan.ends[good[-1]])
        try:
            str(memoryview(self._buf)[first:last], "utf-8")
            if not self._utf8_seen:
                view = np.frombuffer(self._buf, np.uint8, count=last - first, offset=first)
                self._utf8_seen = bool((view >= 0x80).any())
            return good, []
        except UnicodeDecodeError:
            pass
        valid, problems = [], []
        for index in good:
            data = self._record_bytes(scan, int(index))
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = int(self._lines(scan, np.array([index]))[0])
                problem = f"invalid UTF-8 (byte 0x{data[exc.start]:02x} at byte {exc.start + 1})"
                if not self._utf8_seen:  # no UTF-8 text before it: the file is not UTF-8
                    fix = self._advice_for(ENCODING_SETTING, "if the file is in another encoding")
                    raise FileRejected(
                        f"{self.file}, line {line}: not UTF-8 text, {problem}; Flywheel reads "
                        f"UTF-8{fix}"
                    ) from None
                at = int(scan.starts[index]) + exc.start
                field = self.header[min(scan.field_at(int(index), at), len(self.header) - 1)]
                problems.append(RowProblem(line, field, problem, excerpt(data)))
            else:
                self._utf8_seen = self._utf8_seen or not data.isascii()
                valid.append(index)
        return np.array(valid, dtype=np.int64), problems

    def _rows(self, scan: _Scan, good: np.ndarray) -> pa.Table:
        if good.size == 0:
            return self._empty_rows()
        first, last = int(good[0]), int(good[-1])
        if last - first + 1 == good.size:
            data = self._buf[self._pos + int(scan.starts[first]) : self._pos + int(scan.ends[last])]
        else:
            data = b"\n".join(self._record_bytes(scan, int(i)) for i in good)
        rows = _parse_records(data, len(self.header), self.delimiter)
        if rows.num_rows != good.size:  # the scanner and the parser disagree: never guess
            raise RuntimeError(
                f"{self.file}: {good.size} records from line {self._line} parsed into "
                f"{rows.num_rows} rows"
            )
        return rows.rename_columns(self.header)

    def _skip_oversized(self) -> RowProblem:
        """The unfinished record at the read position passed the limit: report it, skip a line."""
        line = self._line
        newline = self._buf.find(b"\n", self._pos)
        if newline >= 0:  # it spans lines: a quote opened on its first line never closed
            problem = self._unbalanced(self._buf[self._pos : newline], line)
            self._advance(newline + 1 - self._pos)
            return problem
        head = self._buf[self._pos : self._pos + 4 * EXCERPT_CHARS]
        size = 0
        while newline < 0 and not self._eof:  # one line longer than the limit: read past it
            size += len(self._buf) - self._pos
            self._pos = len(self._buf)
            self._fill()
            newline = self._buf.find(b"\n")
        if newline < 0:
            size += len(self._buf) - self._pos
            self._pos = len(self._buf)
        else:
            size += newline - self._pos
            self._advance(newline + 1 - self._pos)
        return RowProblem(line, "line", f"record is {size_text(size)}", excerpt(head))


def _parse_records(data: bytes, columns: int, delimiter: str = ",") -> pa.Table:
    """Text columns of well-formed records (scanned: every one has `columns` fields).

    Arrow's parser is the fast one, and quotes as pandas does, but it also ends a line at a
    lone CR; records holding one (as data, outside quotes) go through pandas' C parser told
    that only LF ends a line. Either way "" stays "", not null.
    """
    names = [f"c{i}" for i in range(columns)]
    if data.count(b"\r") == data.count(b"\r\n"):
        return pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=2 * MAX_RECORD_BYTES),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,  # checked record by record before
            ),
        )
    rows = pd.read_csv(
        io.BytesIO(data),
        header=None,
        names=names,
        sep=delimiter,
        dtype=str,
        na_filter=False,
        keep_default_na=False,
        lineterminator="\n",
        skip_blank_lines=False,
        index_col=False,
        engine="c",
        encoding="utf-8",
    )
    last = names[-1]
    rows[last] = rows[last].str.removesuffix("\r")  # a CRLF's CR stays in the last field
    return pa.Table.from_pandas(rows, preserve_index=False)


class Transcoded(io.RawIOBase):
    """A byte stream in `encoding`, read as UTF-8: for `CsvReader`, which reads UTF-8 only.

    Bytes that are not text in that encoding reject the file, naming the line and `advice`
    (how to state another encoding).
    """

    def __init__(self, stream: BinaryIO, encoding: str, file: str, advice: str = "") -> None:
        self._stream = stream
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._file = file
        self._advice = advice
        self._lines = 1  # line number where the next decoded text starts

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self._stream.read(size)
            try:
                text = self._decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                line = self._lines + exc.object[: exc.start].count(b"\n")
                fix = f"; set {ENCODING_SETTING} {self._advice}" if self._advice else ""
                raise FileRejected(
                    f"{self._file}, line {line}: byte 0x{exc.object[exc.start]:02x} is not "
                    f"{self._encoding} text{fix}"
                ) from None
            self._lines += text.count("\n")
            if text or not data:
                return text.encode("utf-8")
