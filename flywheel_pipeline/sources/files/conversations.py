"""AI customer-service conversations (`landing/conversations/*.jsonl`), one file at a time.

One conversation a line (SPEC §4). Emails and phone numbers in message text are redacted here,
before the text is written anywhere, so the original never leaves this module. Quarantined
lines are redacted too: every string of the record (the contact's email included) and the
values a reason quotes; a line cut short or not valid JSON has its escapes decoded, so that
`\n5551234567` or `\u0040` hide nothing, and is redacted more strictly (`redact_excerpt`)
for what a cut leaves of an address or number. A file rejected whole has its error redacted
that way too, since it reaches the run log.
Lines are read one at a time, at most MAX_RECORD_BYTES each, and handed on in batches, so a
file of any size loads in bounded memory. A bad line (invalid JSON, a truncated last line,
invalid UTF-8, an unknown role, a timestamp without offset or outside 1678–2261, a value of
the wrong type…) goes to quarantine with its line number and field; the other lines load. An
empty file holds no conversations and loads as such.

Speed (benchmarks/bench_conversation_loader.py): a file of PARALLEL_MIN_BYTES or more is
parsed in byte ranges on every core (ranges.py), results in file order, so the rows and their
line numbers are those of a reading in one process. Each line first takes a fast path
(`_typical_row`: orjson, no error messages) that accepts only a line it is sure of; any other
line takes the checked path (`_checked_row`, the standard json module), which says what is
wrong or loads the line. Redaction skips the patterns that cannot match (no `@`, fewer than
nine digits). Rows go to Arrow columns directly, timestamps in UTC.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from flywheel_pipeline.sources.files.parsed import (
    EXCERPT_CHARS,
    MAX_RECORD_BYTES,
    FileRejected,
    ParsedChunk,
    RowProblem,
    guard_parsing,
    size_text,
)
from flywheel_pipeline.sources.files.ranges import (
    SharedPool,
    byte_ranges,
    first_line_start,
    in_order,
)
from flywheel_pipeline.sources.files.schemas import (
    CONVERSATION_COLUMNS,
    CONVERSATION_ROLES,
    CONVERSATIONS_FOLDER,
    CONVERSATIONS_SOURCE,
    MESSAGE_COLUMNS,
)

if TYPE_CHECKING:  # pandas is imported where it is used: the parsing workers do without it
    import pandas as pd

CONVERSATIONS = "raw.conversations"
MESSAGES = "raw.conversation_messages"
PATTERNS = ("*.jsonl",)
BATCH_LINES = 5_000
# Smaller files parse in the loading process: starting the workers (~0.3 s) costs more than
# a second core saves on them.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
# A worker's range is one chunk: a few MB whatever its lines (each staged chunk costs a
# DuckDB insert and commit).
RANGE_BYTES = 4 * 1024 * 1024
RANGES_AHEAD_PER_WORKER = 2  # enough to keep a worker busy while the loader stages a range
# The workers stay for the folder's next file, and leave when the load is over.
_POOL = SharedPool(idle_seconds=10.0)
# A match may only start where a run of address characters starts: tried at every position of
# a long run, the pattern would cost time in the square of its length (minutes for 100 kB of
# letters). Any match found from inside a run is found from its start too.
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Nine or more digits, optionally led by + and broken by spaces, dots, dashes or brackets:
# phone numbers in any common format, but not order numbers, dates or prices.
PHONE = re.compile(r"(?<![\w#])\+?\(?\d(?:[\s().-]{0,2}\d){8,14}(?![\w])")
# PHONE tries its lookbehind at every position of a text, but needs nine digits: ASCII text
# (where `\d` is 0-9) has them counted far faster; other text is searched for any digit.
_DIGIT = re.compile(r"\d")
_NOT_ASCII_DIGITS = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)
# Quarantine keeps lines that may be cut short: an address cut after its `@` or a phone
# number cut after a few digits must go too, so any text joined to an `@` is an address and
# 4+ digits ending the text (looked for in its tail only: the pattern is unbounded) are a
# phone number.
LOOSE_EMAIL = re.compile(r"(?<![\w.%+-])(?:[\w.%+-]+@[\w.-]*|@[\w.-]+)")
TRAILING_DIGITS = re.compile(r"(?<![\w#])\+?\(?\d(?:[\s().-]{0,2}\d){3,}\s*$")
TAIL_CHARS = 64
# JSON (and Python repr) escapes, decoded before redacting text that was not parsed.
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_ESCAPED = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
# What `surrogateescape` makes of bytes that are not UTF-8, and any surrogate at all.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Timestamps pandas can hold too (`load_conversations` gives nanoseconds); one outside used to
# reject its whole file.
_FIRST_UTC = datetime(1678, 1, 1, tzinfo=UTC)
_END_UTC = datetime(2262, 1, 1, tzinfo=UTC)
# The fast path leaves the years near those limits to the checked one: a day's offset cannot
# take a timestamp of these years out of range.
_FIRST_SURE_YEAR, _LAST_SURE_YEAR = 1679, 2260
# The standard json module recurses per level of nesting and fails past ~1000 (less the
# caller's depth); orjson allows 1024. A line with this many brackets (so at least this many
# bytes) takes the checked path, so that the two cannot disagree on it.
_SURE_BRACKETS = 500

_CONVERSATION_FIELDS = [c for c in CONVERSATION_COLUMNS if c != "_loaded_at"]
_MESSAGE_FIELDS = [c for c in MESSAGE_COLUMNS if c != "_loaded_at"]
_UTC_TIME = pa.timestamp("us", tz="UTC")
# Arrow types of the columns a row's values fill, in `_Row` order (lineage is added per batch).
_CONVERSATION_TYPES = {
    "conversation_id": pa.string(),
    "started_at": _UTC_TIME,
    "channel": pa.string(),
    "contact_id": pa.string(),
    "contact_email": pa.string(),
    "ga_client_id": pa.string(),
    "resolved": pa.bool_(),
    "handed_off": pa.bool_(),
    "csat": pa.int64(),
}


def redact(text: str) -> str:
    # EMAIL cannot match without an `@`, PHONE without nine digits: skipping them changes
    # nothing.
    if "@" in text:
        text = EMAIL.sub("[email]", text)
    if text.isascii():
        digits = len(text.encode("ascii").translate(None, _NOT_ASCII_DIGITS))
        if digits < 9:
            return text
    elif not _DIGIT.search(text):
        return text
    return PHONE.sub("[phone]", text)


def redact_excerpt(text: str) -> str:
    """`redact`, and also what is left of an address or phone number cut short."""
    head, tail = text[:-TAIL_CHARS], text[-TAIL_CHARS:]
    text = head + TRAILING_DIGITS.sub("[phone]", tail)
    return PHONE.sub("[phone]", LOOSE_EMAIL.sub("[email]", text))


def _redacted(value: object) -> object:
    """A parsed JSON value with every string in it (keys too) redacted. Its strings are
    whole, so `redact` is enough: the stricter rules would take ids and dates for numbers."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def _shown(value: object) -> str:
    """A value quoted in a quarantine reason: redacted before it is written out."""
    return repr(_redacted(value))


class RowError(ValueError):
    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field_name = field_name
        self.problem = problem


class _Row(NamedTuple):
    """One good line: its conversation's values (in _CONVERSATION_TYPES order, timestamps
    in UTC) and its messages' roles, redacted texts and times (UTC)."""

    conversation: tuple
    roles: list[str]
    texts: list[str]
    sent_at: list[datetime]


class _Part(NamedTuple):
    """A batch of a file: lines numbered from the start of what was read."""

    chunk: ParsedChunk
    lines: int  # lines read, blank and bad ones included


@dataclass
class ConversationLoad:
    conversations: pd.DataFrame
    messages: pd.DataFrame
    quarantine: pd.DataFrame
    files_loaded: list[str] = field(default_factory=list)
    files_rejected: dict[str, str] = field(default_factory=dict)


def read_conversation_file(
    path: Path, file: str, *, workers: int | None = None
) -> Iterator[ParsedChunk]:
    """Chunks of conversations, messages and bad lines of one JSONL file, in line order.
    `workers`: processes for a big file (default: one per core; 1 parses in this one)."""
    try:
        yield from guard_parsing(_read_chunks(path, file, workers), file)
    except FileRejected as exc:
        # An unexpected failure's message may quote a line; it goes to the run log.
        raise FileRejected(redact_excerpt(str(exc))) from None


def _read_chunks(path: Path, file: str, workers: int | None) -> Iterator[ParsedChunk]:
    workers = workers or os.cpu_count() or 1
    size = path.stat().st_size
    if workers < 2 or size < PARALLEL_MIN_BYTES:
        for part in _read_range(path, file, 0, None):
            if part.chunk.frames:
                yield part.chunk
        return
    ranges = [(path, file, start, end) for start, end in byte_ranges(size, RANGE_BYTES)]
    lines_before = 0
    with _POOL.workers(workers) as pool:
        for parts in in_order(pool, _parse_range, ranges, workers * RANGES_AHEAD_PER_WORKER):
            for part in parts:  # numbered from the range's start, all of them
                if part.chunk.frames:
                    yield _renumbered(part.chunk, lines_before)
            lines_before += sum(part.lines for part in parts)


def _parse_range(path: Path, file: str, start: int, end: int | None) -> list[_Part]:
    """What a worker does with one range (module level, so that it pickles)."""
    return list(_read_range(path, file, start, end, batch_lines=None))


def _renumbered(chunk: ParsedChunk, lines_before: int) -> ParsedChunk:
    """A range's chunk with line numbers counted from the start of the file."""
    if not lines_before:
        return chunk
    frames = {}
    for name, rows in chunk.frames.items():
        index = rows.schema.get_field_index("_line")
        frames[name] = rows.set_column(index, "_line", pc.add(rows["_line"], lines_before))
    problems = [dataclasses.replace(p, line=p.line + lines_before) for p in chunk.problems]
    return ParsedChunk(frames, problems)


def _read_range(
    path: Path, file: str, start: int, end: int | None, batch_lines: int | None = BATCH_LINES
) -> Iterator[_Part]:
    """Batches of `batch_lines` of the lines starting in [start, end) (None: one batch),
    numbered from 1."""
    with path.open("rb") as stream:
        position = first_line_start(stream, start, end, MAX_RECORD_BYTES + 1)
        if position is None:
            return
        batch = _Batch(file)
        for item in _numbered_lines(stream, position, end):
            batch.lines += 1
            if isinstance(item, RowProblem):
                batch.problems.append(item)
                continue
            number, raw = item
            if not raw.strip():
                continue
            try:
                batch.add(number, _parse_line(raw))
            except RowError as exc:
                batch.problems.append(_quarantined(number, exc.field_name, exc.problem, raw))
                continue
            if batch_lines and len(batch.rows) + len(batch.problems) >= batch_lines:
                yield batch.part()
                batch = _Batch(file)
        if batch.rows or batch.problems:
            yield batch.part()
        elif batch.lines:
            yield _Part(ParsedChunk(), batch.lines)  # blank lines still count for those after


class _Batch:
    """Rows and bad lines on their way to one ParsedChunk."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.rows: list[tuple] = []
        self.numbers: list[int] = []
        # One list per message column: transposing tuples would cost more than the parsing.
        self.roles: list[str] = []
        self.texts: list[str] = []
        self.sent_at: list[datetime] = []
        self.turn_counts: list[int] = []
        self.problems: list[RowProblem] = []
        self.lines = 0

    def add(self, number: int, row: _Row) -> None:
        self.rows.append(row.conversation)
        self.numbers.append(number)
        self.roles.extend(row.roles)
        self.texts.extend(row.texts)
        self.sent_at.extend(row.sent_at)
        self.turn_counts.append(len(row.roles))

    def part(self) -> _Part:
        counts = np.array(self.turn_counts, dtype=np.int64)
        numbers = pa.array(self.numbers, pa.int64())
        conversations = _columns(self.rows, _CONVERSATION_TYPES)
        owner = np.repeat(np.arange(len(counts)), counts)  # the conversation of each message
        first = np.repeat(np.cumsum(counts) - counts, counts)
        messages = {
            "conversation_id": conversations["conversation_id"].take(owner),
            "message_index": pa.array(np.arange(len(owner)) - first, pa.int64()),
            "role": pa.array(self.roles, pa.string()),
            "text": pa.array(self.texts, pa.string()),
            "sent_at": _utc_column(self.sent_at),
        }
        frames = {
            CONVERSATIONS: self._table(conversations, numbers, _CONVERSATION_FIELDS),
            MESSAGES: self._table(messages, numbers.take(owner), _MESSAGE_FIELDS),
        }
        return _Part(ParsedChunk(frames, self.problems), self.lines)

    def _table(self, columns: dict[str, pa.Array], lines: pa.Array, order: list[str]) -> pa.Table:
        lineage = {"_source_file": pa.repeat(pa.scalar(self.file), len(lines)), "_line": lines}
        columns = {**columns, **lineage}
        return pa.table([columns[name] for name in order], names=order)


def _columns(rows: list[tuple], types: dict[str, pa.DataType]) -> dict[str, pa.Array]:
    values = list(zip(*rows, strict=True)) or [()] * len(types)
    return {
        name: _utc_column(column) if kind == _UTC_TIME else pa.array(column, kind)
        for (name, kind), column in zip(types.items(), values, strict=True)
    }


def _utc_column(values: list[datetime] | tuple[datetime, ...]) -> pa.Array:
    # UTC in Arrow's conversion, naive in the raw table's TIMESTAMP (a metadata change).
    return pa.array(values, _UTC_TIME).cast(pa.timestamp("us"))


def _numbered_lines(
    stream: BinaryIO, position: int = 0, end: int | None = None
) -> Iterator[tuple[int, bytes] | RowProblem]:
    """(line number, bytes) per line starting before `end`, numbered from 1; a line over the
    size limit is reported, not read."""
    number = 0
    while (end is None or position < end) and (line := stream.readline(MAX_RECORD_BYTES + 1)):
        number += 1
        position += len(line)
        if len(line) <= MAX_RECORD_BYTES or line.endswith(b"\n"):
            yield number, line
            continue
        size, head = len(line), line
        while line and not line.endswith(b"\n"):  # read past the rest of the line
            line = stream.readline(MAX_RECORD_BYTES + 1)
            position += len(line)
            size += len(line.rstrip(b"\n"))
        yield _quarantined(number, "line", f"record is {size_text(size)}", head)


def _quarantined(number: int, field_name: str, problem: str, raw: bytes) -> RowProblem:
    # Redacted like message text: quarantine is queryable like any raw table.
    return RowProblem(number, redact(field_name), redact(problem), _record(raw))


def _record(raw: bytes) -> str:
    """The line for `raw.quarantine.record`: redacted whole, then cut to an excerpt, so that
    the cut cannot leave half an address behind. A line that parses stays JSON (its strings
    redacted); any other is redacted with its escapes decoded."""
    text = _decode(raw)
    try:
        shown = json.dumps(_redacted(json.loads(text)), ensure_ascii=False)
    except (ValueError, RecursionError):
        shown = redact_excerpt(_ESCAPE.sub(_unescape, text))
    return _SURROGATE.sub("\ufffd", shown)[:EXCERPT_CHARS]


def _unescape(match: re.Match) -> str:
    escaped = match.group(1)
    if len(escaped) > 1:  # \uXXXX or \xXX
        return chr(int(escaped[1:], 16))
    return _ESCAPED.get(escaped, escaped)


def load_conversations(landing_dir: Path, loaded_at: datetime) -> ConversationLoad:
    """Every conversation file, in memory (the assets stream through drops.py)."""
    import pandas as pd

    from flywheel_pipeline.sources.files.tables import list_files, quarantine_frame, to_pandas

    conversations: list[pd.DataFrame] = []
    messages: list[pd.DataFrame] = []
    bad: list[dict] = []
    result = ConversationLoad(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    for path in list_files(landing_dir, CONVERSATIONS_FOLDER, PATTERNS):
        name = path.relative_to(landing_dir).as_posix()
        try:
            chunks = list(guard_parsing(read_conversation_file(path, name), name))
        except FileRejected as exc:
            result.files_rejected[name] = str(exc)
            continue
        for chunk in chunks:
            conversations.append(to_pandas(chunk.frames[CONVERSATIONS]))
            messages.append(to_pandas(chunk.frames[MESSAGES]))
            bad.extend(p.quarantine_row(CONVERSATIONS_SOURCE, name) for p in chunk.problems)
        result.files_loaded.append(name)

    result.conversations = _concat(conversations, _CONVERSATION_FIELDS)
    result.messages = _concat(messages, _MESSAGE_FIELDS)
    result.quarantine = quarantine_frame(bad)
    for frame in (result.conversations, result.messages, result.quarantine):
        frame["_loaded_at"] = pd.Timestamp(loaded_at)
    return result


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _empty_frame(columns)


def _empty_frame(columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(columns=columns)
    for column in ("started_at", "sent_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    for column in ("resolved", "handed_off"):
        if column in frame:
            frame[column] = frame[column].astype("boolean")
    if "csat" in frame:
        frame["csat"] = frame["csat"].astype("Int64")
    return frame


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Decoded anyway, so the JSON can say which field holds the bad bytes.
        return raw.decode("utf-8", errors="surrogateescape")


def _parse_line(raw: bytes) -> _Row:
    """The conversation and messages of one line; RowError says what is wrong with it."""
    return _typical_row(raw) or _checked_row(raw)


def _typical_row(raw: bytes) -> _Row | None:
    """`_checked_row(raw)` for a line that holds nothing unusual, faster; None for any other
    line (including every bad one), which `_checked_row` then reads.

    orjson reads JSON as json does but for what is excluded here: it rejects invalid UTF-8,
    lone surrogate escapes (which json decodes and `_checked_row` quarantines), NaN and
    numbers out of float range; it gives integers beyond 64 bits as floats (no field takes a
    float); it nests deeper than json may.
    """
    if len(raw) > _SURE_BRACKETS and raw.count(b"[") + raw.count(b"{") > _SURE_BRACKETS:
        return None
    try:
        record = orjson.loads(raw)
        if type(record) is not dict:
            return None
        conversation_id = record.get("conversation_id")
        if type(conversation_id) is not str or not conversation_id:
            return None
        contact = record.get("contact") or {}
        csat = record.get("csat")
        resolved = record.get("resolved")
        handed_off = record.get("handed_off")
        turns = record.get("messages")
        if (
            type(contact) is not dict
            or (csat is not None and (type(csat) is not int or not 1 <= csat <= 5))
            or (resolved is not None and type(resolved) is not bool)
            or (handed_off is not None and type(handed_off) is not bool)
            or type(turns) is not list
            or not turns
        ):
            return None
        roles, texts, times = [], [], []
        for turn in turns:
            if type(turn) is not dict:
                return None
            role = turn.get("role")
            text = turn.get("text")
            sent_at = _sure_utc(turn.get("sent_at"))
            if type(role) is not str or role not in CONVERSATION_ROLES:
                return None
            if type(text) is not str or sent_at is None:
                return None
            roles.append(role)
            texts.append(redact(text))
            times.append(sent_at)
        started_at = _sure_utc(record.get("started_at"))
        channel = record.get("channel")
        contact_id = contact.get("contact_id")
        email = contact.get("email")
        ga_client_id = contact.get("ga_client_id")
        if (
            started_at is None
            # an id given as a number: the checked path has the rule
            or (channel is not None and type(channel) is not str)
            or (contact_id is not None and type(contact_id) is not str)
            or (email is not None and type(email) is not str)
            or (ga_client_id is not None and type(ga_client_id) is not str)
        ):
            return None
    except Exception:  # anything unexpected: the checked path meets it too and says so
        return None
    conversation = (
        conversation_id,
        started_at,
        channel,
        contact_id,
        email,
        ga_client_id,
        resolved,
        handed_off,
        csat,
    )
    return _Row(conversation, roles, texts, times)


def _sure_utc(value: object) -> datetime | None:
    """`_utc(value)` when it is sure to succeed, else None."""
    if type(value) is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None or not _FIRST_SURE_YEAR <= parsed.year <= _LAST_SURE_YEAR:
        return None
    return parsed.astimezone(UTC)


def _checked_row(raw: bytes) -> _Row:
    line = _decode(raw)
    undecodable = _UNDECODABLE.search(line)
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        if undecodable:
            raise RowError("line", _not_utf8(raw)) from None
        problem = f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"
        raise RowError("line", problem) from None
    except (ValueError, RecursionError) as exc:  # a number too long, nesting too deep
        raise RowError("line", f"invalid JSON: {type(exc).__name__}") from None
    if undecodable:
        raise RowError(_path_of(record, _UNDECODABLE) or "line", _not_utf8(raw))
    # Valid JSON, invalid text: a `\udc80` escape without its pair cannot be stored.
    if "\\ud" in line.lower() and (path := _path_of(record, _SURROGATE)):
        raise RowError(path, "invalid Unicode (an unpaired surrogate escape)")
    if not isinstance(record, dict):
        raise RowError("line", "expected a JSON object")
    conversation_id = record.get("conversation_id")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise RowError("conversation_id", "missing")
    contact = record.get("contact") or {}
    if not isinstance(contact, dict):
        raise RowError("contact", "expected an object")
    csat = record.get("csat")
    if csat is not None and (_not_int(csat) or not 1 <= csat <= 5):
        raise RowError("csat", f"expected a whole number 1–5, got {_shown(csat)}")
    for flag in ("resolved", "handed_off"):
        if record.get(flag) is not None and not isinstance(record[flag], bool):
            raise RowError(flag, f"expected true or false, got {_shown(record[flag])}")
    turns = record.get("messages")
    if not isinstance(turns, list) or not turns:
        raise RowError("messages", "expected a non-empty list")

    roles, texts, times = [], [], []
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RowError(f"messages[{index}]", "expected an object")
        role = turn.get("role")
        if not isinstance(role, str) or role not in CONVERSATION_ROLES:
            raise RowError(f"messages[{index}].role", f"unknown role {_shown(role)}")
        text = turn.get("text")
        if not isinstance(text, str):
            raise RowError(f"messages[{index}].text", "missing")
        roles.append(role)
        texts.append(redact(text))
        times.append(_utc(turn.get("sent_at"), f"messages[{index}].sent_at"))
    conversation = (
        conversation_id,
        _utc(record.get("started_at"), "started_at"),
        _text(record.get("channel"), "channel"),
        _text(contact.get("contact_id"), "contact.contact_id"),
        _text(contact.get("email"), "contact.email"),
        _text(contact.get("ga_client_id"), "contact.ga_client_id"),
        record.get("resolved"),
        record.get("handed_off"),
        csat,
    )
    return _Row(conversation, roles, texts, times)


def _not_int(value: object) -> bool:
    return not isinstance(value, int) or isinstance(value, bool)


def _text(value: object, field_name: str) -> str | None:
    """A text field; a whole number (an id exported as a number) is taken as its digits.
    Anything else costs the line, not the file: a column of mixed types cannot be stored."""
    if value is None or isinstance(value, str):
        return value
    if not _not_int(value):
        return str(value)
    raise RowError(field_name, f"expected text, got {type(value).__name__}")


def _utc(value: object, field_name: str) -> datetime:
    if not isinstance(value, str):
        raise RowError(field_name, "missing timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RowError(field_name, f"unparseable timestamp {_shown(value)}") from None
    if parsed.tzinfo is None:
        raise RowError(field_name, f"timestamp without UTC offset {_shown(value)}")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 moved across the date line
        utc = None
    if utc is None or not _FIRST_UTC <= utc < _END_UTC:
        raise RowError(field_name, f"timestamp out of range {_shown(value)}")
    return utc


def _not_utf8(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})"
    return "invalid UTF-8"


def _path_of(value: object, pattern: re.Pattern, path: str = "") -> str | None:
    """Where in a parsed record the first text matching `pattern` is: `messages[0].text`."""
    if isinstance(value, str):
        return path if pattern.search(value) else None
    items: list[tuple[str, object]] = []
    if isinstance(value, dict):
        items = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    for item_path, item in items:
        found = _path_of(item, pattern, item_path)
        if found:
            return found
    return None
