"""Load AI customer-service conversations (`landing/conversations/*.jsonl`).

One conversation a line (SPEC §4). Emails and phone numbers in message text are redacted here,
before the text is written anywhere, so the original never leaves this function.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from flywheel_pipeline.sources.files.schemas import CONVERSATION_ROLES
from flywheel_pipeline.sources.files.tables import list_files, quarantine_frame

FOLDER = "conversations"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Nine or more digits, optionally led by + and broken by spaces, dots, dashes or brackets:
# phone numbers in any common format, but not order numbers, dates or prices.
PHONE = re.compile(r"(?<![\w#])\+?\(?\d(?:[\s().-]{0,2}\d){8,14}(?![\w])")

CONVERSATION_COLUMNS = [
    "conversation_id",
    "started_at",
    "channel",
    "contact_id",
    "contact_email",
    "ga_client_id",
    "resolved",
    "handed_off",
    "csat",
    "_source_file",
    "_line",
]
MESSAGE_COLUMNS = [
    "conversation_id",
    "message_index",
    "role",
    "text",
    "sent_at",
    "_source_file",
    "_line",
]


def redact(text: str) -> str:
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


class RowError(ValueError):
    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}")
        self.field_name = field_name


@dataclass
class ConversationLoad:
    conversations: pd.DataFrame
    messages: pd.DataFrame
    quarantine: pd.DataFrame
    files_loaded: list[str] = field(default_factory=list)
    files_rejected: dict[str, str] = field(default_factory=dict)


def load_conversations(landing_dir: Path, loaded_at: datetime) -> ConversationLoad:
    conversations: list[dict] = []
    messages: list[dict] = []
    bad: list[dict] = []
    result = ConversationLoad(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    for path in list_files(landing_dir, FOLDER, ("*.jsonl",)):
        name = path.relative_to(landing_dir).as_posix()
        try:
            lines = path.read_bytes().decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            result.files_rejected[name] = f"{name}: not UTF-8 ({exc})"
            continue
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                conversation, turns = _parse_line(line)
            except RowError as exc:
                bad.append(_problem(name, number, exc.field_name, str(exc), line))
                continue
            lineage = {"_source_file": name, "_line": number}
            conversations.append({**conversation, **lineage})
            messages.extend({**turn, **lineage} for turn in turns)
        result.files_loaded.append(name)

    result.conversations = _frame(conversations, CONVERSATION_COLUMNS)
    result.messages = _frame(messages, MESSAGE_COLUMNS)
    result.quarantine = quarantine_frame(bad)
    for frame in (result.conversations, result.messages, result.quarantine):
        frame["_loaded_at"] = pd.Timestamp(loaded_at)
    return result


def _parse_line(line: str) -> tuple[dict, list[dict]]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RowError("line", f"invalid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise RowError("line", "expected a JSON object")
    conversation_id = record.get("conversation_id")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise RowError("conversation_id", "missing")
    contact = record.get("contact") or {}
    if not isinstance(contact, dict):
        raise RowError("contact", "expected an object")
    csat = record.get("csat")
    if csat is not None and (not isinstance(csat, int) or not 1 <= csat <= 5):
        raise RowError("csat", f"expected a whole number 1–5, got {csat!r}")
    for flag in ("resolved", "handed_off"):
        if record.get(flag) is not None and not isinstance(record[flag], bool):
            raise RowError(flag, f"expected true or false, got {record[flag]!r}")
    turns = record.get("messages")
    if not isinstance(turns, list) or not turns:
        raise RowError("messages", "expected a non-empty list")

    messages = []
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RowError(f"messages[{index}]", "expected an object")
        role = turn.get("role")
        if role not in CONVERSATION_ROLES:
            raise RowError(f"messages[{index}].role", f"unknown role {role!r}")
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
        "channel": record.get("channel"),
        "contact_id": contact.get("contact_id"),
        "contact_email": contact.get("email"),
        "ga_client_id": contact.get("ga_client_id"),
        "resolved": record.get("resolved"),
        "handed_off": record.get("handed_off"),
        "csat": csat,
    }
    return conversation, messages


def _utc(value: object, field_name: str) -> datetime:
    if not isinstance(value, str):
        raise RowError(field_name, "missing timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RowError(field_name, f"unparseable timestamp {value!r}") from None
    if parsed.tzinfo is None:
        raise RowError(field_name, f"timestamp without UTC offset {value!r}")
    return pd.Timestamp(parsed).tz_convert("UTC").tz_localize(None).to_pydatetime()


def _problem(file: str, line: int, field_name: str, reason: str, record: str) -> dict:
    # Redacted: quarantine is queryable downstream like any raw table.
    return {
        "source": "conversations",
        "file": file,
        "line": line,
        "field": field_name,
        "reason": reason,
        "record": redact(record[:2000]),
    }


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
