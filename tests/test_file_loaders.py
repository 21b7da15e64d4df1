"""File drops: typed rows load, bad rows go to quarantine, unreadable files are rejected whole."""

from __future__ import annotations

import io
import os
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from flywheel_pipeline.sources.files import conversations
from flywheel_pipeline.sources.files.conversations import load_conversations, redact
from flywheel_pipeline.sources.files.parsed import MAX_RECORD_BYTES
from flywheel_pipeline.sources.files.ranges import (
    SharedPool,
    byte_ranges,
    first_line_start,
    in_order,
)
from flywheel_pipeline.sources.files.schemas import CRM_TABLES, DECISIONS
from flywheel_pipeline.sources.files.tables import load_table
from tests.drops_support import conversation

LOADED_AT = datetime(2026, 1, 1)
ORDERS = next(t for t in CRM_TABLES if t.name == "crm_orders")


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def test_orders_load_typed_in_utc_with_lineage(tmp_path: Path) -> None:
    _write(
        tmp_path / "crm/orders/a.csv",
        "order_id,contact_id,ordered_at,revenue,items,coupon\n"
        "o1,c1,2026-03-01T10:00:00+02:00,12.5,2,SPRING\n"
        "o2,c2,2026-03-02T00:00:00Z,7,1,\n",
    )
    loaded = load_table(ORDERS, tmp_path, LOADED_AT)
    rows = loaded.rows.set_index("order_id")
    assert rows.loc["o1", "ordered_at"] == pd.Timestamp("2026-03-01 08:00:00")
    assert rows.loc["o1", "revenue"] == 12.5
    assert rows.loc["o1", "coupon"] == "SPRING"  # extra columns are kept
    assert rows.loc["o2", "_line"] == 3
    assert rows.loc["o2", "_source_file"] == "crm/orders/a.csv"
    assert loaded.quarantine.empty


def test_bad_rows_go_to_quarantine_and_good_rows_load(tmp_path: Path) -> None:
    _write(
        tmp_path / "crm/orders/a.csv",
        "order_id,contact_id,ordered_at,revenue,items\n"
        "o1,c1,2026-03-01T10:00:00Z,-5,1\n"
        "o2,c1,yesterday,5,1\n"
        "o3,c1,2026-03-01T10:00:00,5,1\n"
        "o4,c1,2026-03-01T10:00:00Z,5,1.5\n"
        "o5,c1,2026-03-01T10:00:00Z,5,1\n",
    )
    loaded = load_table(ORDERS, tmp_path, LOADED_AT)
    assert loaded.rows["order_id"].tolist() == ["o5"]
    reasons = dict(zip(loaded.quarantine["line"], loaded.quarantine["reason"], strict=True))
    assert reasons[2] == "revenue: negative value"
    assert "unparseable" in reasons[3]
    assert "timezone-less" in reasons[4]
    assert reasons[5] == "items: not a whole number"
    assert set(loaded.quarantine["file"]) == {"crm/orders/a.csv"}


def test_file_missing_required_column_is_rejected_whole_others_load(tmp_path: Path) -> None:
    _write(tmp_path / "crm/orders/a.csv", "order_id,contact_id,revenue\no1,c1,5\n")
    _write(
        tmp_path / "crm/orders/b.csv",
        "order_id,contact_id,ordered_at,revenue\no2,c1,2026-03-01T10:00:00Z,5\n",
    )
    _write(tmp_path / "crm/orders/c.parquet", b"PAR1 but not really")
    loaded = load_table(ORDERS, tmp_path, LOADED_AT)
    assert loaded.rows["order_id"].tolist() == ["o2"]
    assert "missing required column(s) ordered_at" in loaded.files_rejected["crm/orders/a.csv"]
    assert "crm/orders/a.csv, line 1" in loaded.files_rejected["crm/orders/a.csv"]
    assert "unreadable Parquet file" in loaded.files_rejected["crm/orders/c.parquet"]
    assert loaded.files_loaded == ["crm/orders/b.csv"]


def test_parquet_loads_typed_with_row_numbers_as_lines(tmp_path: Path) -> None:
    path = tmp_path / "crm/orders/a.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "contact_id": ["c1", "c2", "c3"],
            "ordered_at": pd.to_datetime(
                ["2026-03-01 10:00", "2026-03-02 00:00", "2026-03-03 00:00"]
            ).tz_localize("Europe/Berlin"),
            "revenue": [12.5, -1.0, 3.0],
            "items": pd.array([2, 1, None], dtype="Int64"),
            "Coupon": ["A", None, "B"],
        }
    ).to_parquet(path)
    loaded = load_table(ORDERS, tmp_path, LOADED_AT)
    rows = loaded.rows.set_index("order_id")
    assert rows.index.tolist() == ["o1", "o3"]
    assert rows.loc["o1", "ordered_at"] == pd.Timestamp("2026-03-01 09:00")  # UTC
    assert rows.loc["o3", "_line"] == 3
    assert rows.loc["o3", "Coupon"] == "B"
    assert loaded.quarantine[["line", "reason"]].values.tolist() == [[2, "revenue: negative value"]]


def test_column_names_match_without_case_and_reserved_ones_are_dropped(tmp_path: Path) -> None:
    _write(
        tmp_path / "crm/orders/a.csv",
        " Order_ID ,CONTACT_ID,Ordered_At,Revenue,_line\no1,c1,2026-03-01T10:00:00Z,5,99\n",
    )
    loaded = load_table(ORDERS, tmp_path, LOADED_AT)
    assert loaded.rows[["order_id", "contact_id", "revenue", "_line"]].values.tolist() == [
        ["o1", "c1", 5.0, 2]
    ]


def test_empty_folder_gives_an_empty_table_with_the_declared_columns(tmp_path: Path) -> None:
    loaded = load_table(DECISIONS, tmp_path, LOADED_AT)
    assert loaded.rows.empty
    assert list(loaded.rows.columns)[:4] == ["recommendation_id", "status", "decided_at", "note"]


def test_decision_status_must_be_known(tmp_path: Path) -> None:
    _write(
        tmp_path / "decisions/d.csv",
        "recommendation_id,status,decided_at,note\n"
        "r1,accepted,2026-03-01T10:00:00Z,ok\n"
        "r2,maybe,2026-03-01T10:00:00Z,\n",
    )
    loaded = load_table(DECISIONS, tmp_path, LOADED_AT)
    assert loaded.rows["recommendation_id"].tolist() == ["r1"]
    assert loaded.quarantine["field"].tolist() == ["status"]


def _conversation(conversation_id: str, text: str, **extra: object) -> str:
    """A resolved conversation of a contact known by email (drops_support.conversation)."""
    return conversation(
        conversation_id,
        text,
        **{"contact": {"email": "ann@example.com"}, "resolved": True, **extra},
    )


def test_conversations_are_redacted_and_bad_lines_quarantined(tmp_path: Path) -> None:
    lines = [
        _conversation("k1", "Mail me at Ann.Lee+shop@example.co.uk or call +44 20 7946 0958"),
        "{not json",
        _conversation("k2", "hi", messages=[{"role": "robot", "text": "x", "sent_at": "x"}]),
        _conversation("k3", "order #123456789 arrived broken", started_at="2026-03-01 10:00"),
        _conversation("k4", "where is order 12345? ring (555) 123-4567"),
    ]
    _write(tmp_path / "conversations/day.jsonl", "\n".join(lines) + "\n")
    loaded = load_conversations(tmp_path, LOADED_AT)

    assert loaded.conversations["conversation_id"].tolist() == ["k1", "k4"]
    assert loaded.conversations.loc[0, "started_at"] == pd.Timestamp("2026-03-01 09:00")
    texts = loaded.messages[loaded.messages["role"] == "user"]["text"].tolist()
    assert texts == ["Mail me at [email] or call [phone]", "where is order 12345? ring [phone]"]
    problems = dict(zip(loaded.quarantine["line"], loaded.quarantine["field"], strict=True))
    assert problems == {2: "line", 3: "messages[0].role", 4: "started_at"}
    assert "@" not in " ".join(loaded.quarantine["record"])


def test_redaction_leaves_order_numbers_and_prices() -> None:
    assert redact("order #123456789 cost $1,299.00 on 2026-03-01") == (
        "order #123456789 cost $1,299.00 on 2026-03-01"
    )
    assert redact("call 415.555.0199 or 07700 900123") == "call [phone] or [phone]"


def test_redaction_counts_any_digits_and_needs_nine() -> None:
    assert redact("call ١٢٣٤٥٦٧٨٩٠ now") == "call [phone] now"  # Arabic-Indic digits
    assert redact("café: 415.555.0199") == "café: [phone]"
    assert redact("order 12345678, mail x@example.com") == "order 12345678, mail [email]"


def test_a_timestamp_out_of_range_costs_its_line_not_the_file(tmp_path: Path) -> None:
    lines = [
        _conversation("k1", "hi", started_at="3000-01-01T00:00:00Z"),
        # moved to UTC, year 1 falls off the calendar
        _conversation("k2", "hi", started_at="0001-01-01T00:00:00+01:00"),
        _conversation("k3", "hi"),
    ]
    _write(tmp_path / "conversations/day.jsonl", "\n".join(lines) + "\n")
    loaded = load_conversations(tmp_path, LOADED_AT)

    assert loaded.conversations["conversation_id"].tolist() == ["k3"]
    assert loaded.quarantine["reason"].tolist() == [
        "started_at: timestamp out of range '3000-01-01T00:00:00Z'",
        "started_at: timestamp out of range '0001-01-01T00:00:00+01:00'",
    ]


# Lines on which orjson (the fast path) and json (the checked path) could part ways.
EDGE_LINES = [
    _conversation("k1", "mail ann@example.com or ring +44 20 7946 0958"),
    _conversation("k1", "LONE").replace("LONE", "\\udc80"),
    _conversation("k1", "PAIR").replace("PAIR", "\\ud83d\\ude00 and \\u0040"),
    _conversation("k1", "hi", note="KEY").replace('"KEY"', '{"\\ud800": 1}'),
    _conversation("k1", "hi", contact={"contact_id": 123456789012345678901234567890}),
    _conversation("k1", "hi", contact={"contact_id": -9223372036854775809}),
    _conversation("k1", "hi", contact={"contact_id": 1234}),
    _conversation("k1", "hi", contact=[]),
    _conversation("k1", "hi", contact=0),
    _conversation("k1", "hi", csat=4.0),
    _conversation("k1", "hi", csat=True),
    _conversation("k1", "hi", csat=12345678901234567890123),
    _conversation("k1", "hi", score=float("nan")),
    _conversation("k1", "hi", score=float("inf")),
    _conversation("k1", "hi", deep="DEEP").replace('"DEEP"', "[" * 600 + "]" * 600),
    _conversation("k1", "hi", started_at="2026-03-01T10:00:00z"),
    _conversation("k1", "hi", started_at="2026-03-01 10:00:00+01:00:30.5"),
    _conversation("k1", "hi", started_at="1678-01-01T00:30:00+01:00"),
    _conversation("k1", "hi", started_at="2261-12-31T23:30:00-01:00"),
    _conversation("k1", "hi", started_at="2026-03-01T10:00:00+01:60"),
    _conversation("k1", "hi").replace(
        '"conversation_id": "k1"', '"conversation_id": "k0", "conversation_id": "k1"'
    ),
]


def test_the_fast_path_reads_a_line_as_the_checked_path_does_or_leaves_it() -> None:
    encoded = [line.encode() for line in EDGE_LINES]
    encoded += [b"\xef\xbb\xbf" + encoded[0], encoded[0].replace(b"ann", b"\xe9\xff")]
    for raw in encoded:
        fast = conversations._typical_row(raw)
        try:
            checked = conversations._checked_row(raw)
        except conversations.RowError:
            checked = None
        assert fast is None or fast == checked, raw
    assert conversations._typical_row(encoded[0]) is not None  # the common line is fast


def _parsed(path: Path, workers: int) -> tuple[list, list, list]:
    chunks = list(conversations.read_conversation_file(path, "c/day.jsonl", workers=workers))
    return (
        pa.concat_tables(c.frames[conversations.CONVERSATIONS] for c in chunks).to_pylist(),
        pa.concat_tables(c.frames[conversations.MESSAGES] for c in chunks).to_pylist(),
        [p for c in chunks for p in c.problems],
    )


def test_a_file_parsed_on_several_cores_loads_as_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ranges of 64 kB: lines, bad lines and a record over the size limit cross their ends.
    monkeypatch.setattr(conversations, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(conversations, "RANGE_BYTES", 64 * 1024)
    lines = []
    for n in range(3000):
        line = _conversation(f"k{n}", f"order {n} call +44 20 7946 {n:04d}", csat=n % 5 + 1)
        lines.append(
            {0: "{not json", 1: "", 2: line.replace('"user"', '"robot"')}.get(n % 97, line)
        )
    lines[1500] = _conversation("big", "y" * (MAX_RECORD_BYTES + 1000))
    lines[2000] += "\r"
    content = "\n".join(lines) + "\n" + _conversation("cut", "x")[:40]
    path = tmp_path / "day.jsonl"
    _write(path, content)

    parallel = _parsed(path, workers=2)
    assert parallel == _parsed(path, workers=1)
    conversations_, messages, problems = parallel
    assert len(conversations_) == 3000 - 3 * 31 - 1
    assert len(messages) == 2 * len(conversations_)
    assert conversations_[-1]["_line"] == 3000
    assert [(p.line, p.field_name) for p in problems if p.line > 1490][:3] == [
        (1501, "line"),
        (1553, "line"),
        (1555, "messages[0].role"),
    ]
    assert problems[-1].line == 3001  # the last line, cut short


@pytest.mark.parametrize("range_bytes", [1, 2, 3, 5, 8, 64])
def test_byte_ranges_give_each_line_to_the_range_it_starts_in(range_bytes: int) -> None:
    content = b"a\n\nbcd\nefghij\n\nk"  # blank lines; the last line has no newline
    starts = []
    for start, end in byte_ranges(len(content), range_bytes):
        stream = io.BytesIO(content)
        position = first_line_start(stream, start, end, limit=4)  # below the longest line
        while position is not None and position < len(content) and (end is None or position < end):
            starts.append(position)
            position += len(stream.readline())
    assert starts == [0, 2, 3, 7, 14, 15]


def test_a_parsing_worker_that_dies_fails_the_load_not_the_file() -> None:
    pool = SharedPool(idle_seconds=1)
    try:
        # an OSError: drops.py lets it propagate, so the file is read again on the next run
        with pytest.raises(ChildProcessError), pool.workers(1) as executor:
            list(in_order(executor, os._exit, [(1,)], ahead=1))
        with pool.workers(1) as executor:  # a broken pool is replaced
            assert list(in_order(executor, abs, [(-1,), (-2,), (-3,)], ahead=2)) == [1, 2, 3]
    finally:
        pool.close()
