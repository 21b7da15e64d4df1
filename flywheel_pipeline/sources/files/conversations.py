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
invalid UTF-8, an unknown role, a timestamp without offset, a value of the wrong type…) goes
to quarantine with its line number and field; the other lines load. An empty file holds no
conversations and loads as such.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa

from flywheel_pipeline.sources.files.parsed import (
    EXCERPT_CHARS,
    MAX_RECORD_BYTES,
    FileRejected,
    ParsedChunk,
    RowProblem,
    guard_parsing,
    size_text,
)
from flywheel_pipeline.sources.files.schemas import (
    CONVERSATION_COLUMNS,
    CONVERSATION_ROLES,
    CONVERSATIONS_FOLDER,
    CONVERSATIONS_SOURCE,
    MESSAGE_COLUMNS,
)
from flywheel_pipeline.sources.files.tables import list_files, quarantine_frame, to_pandas

CONVERSATIONS = "raw.conversations"
MESSAGES = "raw.conversation_messages"
PATTERNS = ("*.jsonl",)
BATCH_LINES = 5_000
# A match may only start where a run of address characters starts: tried at every position of
# a long run, the pattern would cost time in the square of its length (minutes for 100 kB of
# letters). Any match found from inside a run is found from its start too.
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Nine or more digits, optionally led by + and broken by spaces, dots, dashes or brackets:
# phone numbers in any common format, but not order numbers, dates or prices.
PHONE = re.compile(r"(?<![\w#])\+?\(?\d(?:[\s().-]{0,2}\d){8,14}(?![\w])")
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

_CONVERSATION_FIELDS = [c for c in CONVERSATION_COLUMNS if c != "_loaded_at"]
_MESSAGE_FIELDS = [c for c in MESSAGE_COLUMNS if c != "_loaded_at"]


def redact(text: str) -> str:
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


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


@dataclass
class ConversationLoad:
    conversations: pd.DataFrame
    messages: pd.DataFrame
    quarantine: pd.DataFrame
    files_loaded: list[str] = field(default_factory=list)
    files_rejected: dict[str, str] = field(default_factory=dict)


def read_conversation_file(path: Path, file: str) -> Iterator[ParsedChunk]:
    """Chunks of conversations, messages and bad lines of one JSONL file."""
    try:
        yield from guard_parsing(_read_chunks(path, file), file)
    except FileRejected as exc:
        # An unexpected failure's message may quote a line; it goes to the run log.
        raise FileRejected(redact_excerpt(str(exc))) from None


def _read_chunks(path: Path, file: str) -> Iterator[ParsedChunk]:
    with path.open("rb") as stream:
        conversations: list[dict] = []
        messages: list[dict] = []
        problems: list[RowProblem] = []
        for item in _numbered_lines(stream):
            if isinstance(item, RowProblem):
                problems.append(item)
                continue
            number, raw = item
            if not raw.strip():
                continue
            try:
                conversation, turns = _parse_line(raw)
            except RowError as exc:
                problems.append(_quarantined(number, exc.field_name, exc.problem, raw))
                continue
            lineage = {"_source_file": file, "_line": number}
            conversations.append({**conversation, **lineage})
            messages.extend({**turn, **lineage} for turn in turns)
            if len(conversations) + len(problems) >= BATCH_LINES:
                yield _chunk(conversations, messages, problems)
                conversations, messages, problems = [], [], []
        if conversations or problems:
            yield _chunk(conversations, messages, problems)


def _chunk(
    conversations: list[dict], messages: list[dict], problems: list[RowProblem]
) -> ParsedChunk:
    frames = {
        CONVERSATIONS: _frame(conversations, _CONVERSATION_FIELDS),
        MESSAGES: _frame(messages, _MESSAGE_FIELDS),
    }
    return ParsedChunk(
        {name: pa.Table.from_pandas(frame, preserve_index=False) for name, frame in frames.items()},
        problems,
    )


def _numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes] | RowProblem]:
    """(line number, bytes) per line; a line over the size limit is reported, not read."""
    number = 0
    while line := stream.readline(MAX_RECORD_BYTES + 1):
        number += 1
        if len(line) <= MAX_RECORD_BYTES or line.endswith(b"\n"):
            yield number, line
            continue
        size, head = len(line), line
        while line and not line.endswith(b"\n"):  # read past the rest of the line
            line = stream.readline(MAX_RECORD_BYTES + 1)
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
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _frame([], columns)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Decoded anyway, so the JSON can say which field holds the bad bytes.
        return raw.decode("utf-8", errors="surrogateescape")


def _parse_line(raw: bytes) -> tuple[dict, list[dict]]:
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

    messages = []
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RowError(f"messages[{index}]", "expected an object")
        role = turn.get("role")
        if not isinstance(role, str) or role not in CONVERSATION_ROLES:
            raise RowError(f"messages[{index}].role", f"unknown role {_shown(role)}")
        text = turn.get("text")
        if not isinstance(text, str):
            raise RowError(f"messages[{index}].text", "missing")
        messages.append(
            {
                "conversation_id": conversation_id,
                "message_index": index,
                "role": role,
                "text": redact(text),
                "sent_at": _utc(turn.get("sent_at"), f"messages[{index}].sent_at"),
            }
        )
    conversation = {
        "conversation_id": conversation_id,
        "started_at": _utc(record.get("started_at"), "started_at"),
        "channel": _text(record.get("channel"), "channel"),
        "contact_id": _text(contact.get("contact_id"), "contact.contact_id"),
        "contact_email": _text(contact.get("email"), "contact.email"),
        "ga_client_id": _text(contact.get("ga_client_id"), "contact.ga_client_id"),
        "resolved": record.get("resolved"),
        "handed_off": record.get("handed_off"),
        "csat": csat,
    }
    return conversation, messages


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
    return parsed.astimezone(UTC).replace(tzinfo=None)


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


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("started_at", "sent_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    for column in ("resolved", "handed_off"):
        if column in frame:
            frame[column] = frame[column].astype("boolean")
    if "csat" in frame:
        frame["csat"] = frame["csat"].astype("Int64")
    return frame
