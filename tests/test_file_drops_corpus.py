"""The bad-file corpus: each case has the outcome docs/file-drops.md documents, and every valid
row dropped beside it still arrives. Files are generated here, never committed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from flywheel_pipeline.sources.files.parsed import MAX_RECORD_BYTES
from tests.drops_support import (
    CONVERSATIONS,
    ORDERS_HEADER,
    STAGED_ORDERS,
    Drop,
    conversation,
    order,
)

TEN_MB = 10 * 1024 * 1024
NOTE_HEADER = "order_id,contact_id,ordered_at,revenue,items,note\n"


@pytest.fixture
def drop(tmp_path: Path) -> Drop:
    return Drop(tmp_path)


def test_truncated_last_line_is_quarantined(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1") + order("o2") + "o3,c1,2026-03-0")
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o4") + 'o5,c1,"2026-03-01T1')
    drop.load()

    assert drop.ids() == ["o1", "o2", "o4"]
    assert drop.quarantine() == [
        ("crm/orders/a.csv", 4, "line", "line: expected 5 fields, found 3"),
        (
            "crm/orders/b.csv",
            3,
            "line",
            "line: quoted field not closed before the end of the file (truncated?)",
        ),
    ]
    assert [status for _, _, status, _, _ in drop.manifest()] == ["loaded", "loaded"]


def test_invalid_utf8_in_a_row_is_quarantined_in_the_header_rejects(drop: Drop) -> None:
    latin1 = b"o2,c1,2026-03-01T10:00:00Z,5,1,caf\xe9 latin-1\n"
    rows = (
        NOTE_HEADER.encode()
        + "o1,c1,2026-03-01T10:00:00Z,5,1,café\n".encode()
        + latin1
        + b"o3,c1,2026-03-01T10:00:00Z,5,1,ok\n"
    )
    drop.write("crm/orders/a.csv", rows)
    drop.write("crm/orders/b.csv", b"order_id,contact_id,ordered_at,revenue,n\xf6te\n")
    report = drop.load()

    at = latin1.index(b"\xe9") + 1
    assert drop.ids() == ["o1", "o3"]
    assert drop.query("select note from raw.crm_orders order by _line") == [("café",), ("ok",)]
    assert drop.quarantine() == [
        (
            "crm/orders/a.csv",
            3,
            "note",
            f"note: invalid UTF-8 (byte 0xe9 at byte {at})",
        )
    ]
    assert [o.error for o in report.rejected] == [
        "crm/orders/b.csv, line 1: header is not valid UTF-8 (byte 0xf6 at byte 41); if the "
        "file is in another encoding, set its encoding as `encoding:` (e.g. `cp1252`, "
        "`latin-1`) in landing/crm/orders/mapping.yaml"
    ]


def test_semicolon_delimited_file_loads_an_ambiguous_header_is_rejected_with_a_hint(
    drop: Drop,
) -> None:
    drop.write(
        "crm/orders/a.csv",
        ORDERS_HEADER.replace(",", ";") + "o1;c1;2026-03-01T10:00:00Z;5;1\n",
    )
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o2"))
    drop.write("crm/orders/c.csv", "order_id;contact_id|ordered_at;revenue\n")
    report = drop.load()

    assert drop.ids() == ["o1", "o2"]
    assert [o.error for o in report.rejected] == [
        "crm/orders/c.csv, line 1: missing required column(s) order_id, ordered_at, revenue; "
        "the header looks semicolon-separated (';') or pipe-separated ('|'), Flywheel reads "
        "comma-separated CSV; set the one it uses as `delimiter:` in "
        "landing/crm/orders/mapping.yaml"
    ]
    assert drop.query("select file, status, error is not null from raw.file_manifest") == [
        ("crm/orders/a.csv", "loaded", False),
        ("crm/orders/b.csv", "loaded", False),
        ("crm/orders/c.csv", "rejected", True),
    ]


def test_missing_required_column_rejects_the_file(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", "order_id,contact_id,revenue\no1,c1,5\n")
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o2"))
    report = drop.load()

    assert drop.ids() == ["o2"]
    assert [o.error for o in report.rejected] == [
        "crm/orders/a.csv, line 1: missing required column(s) ordered_at"
    ]


def test_unparseable_and_timezone_less_timestamps_are_quarantined(drop: Drop) -> None:
    drop.write(
        "crm/orders/a.csv",
        ORDERS_HEADER
        + order("o1", ordered_at="2026-03-01T10:00:00+02:00")
        + order("o2", ordered_at="yesterday")
        + order("o3", ordered_at="2026-03-01T10:00:00")
        + order("o4", ordered_at="2026-03-01 10:00:00.5z")
        + order("o5", ordered_at="2026-02-30T10:00:00Z"),
    )
    drop.load()

    assert drop.query("select order_id, ordered_at from raw.crm_orders order by 1") == [
        ("o1", pd.Timestamp("2026-03-01 08:00:00")),
        ("o4", pd.Timestamp("2026-03-01 10:00:00.5")),
    ]
    reason = "ordered_at: unparseable or timezone-less timestamp"
    local = (  # no zone configured: read as UTC it could be hours off
        "ordered_at: timezone-less timestamp; set FLYWHEEL_TIMEZONE or `timezone:` in "
        "landing/crm/orders/mapping.yaml"
    )
    assert drop.quarantine() == [
        ("crm/orders/a.csv", line, "ordered_at", reason if line != 4 else local)
        for line in (3, 4, 6)
    ]


def test_negative_revenue_is_quarantined(drop: Drop) -> None:
    drop.write(
        "crm/orders/a.csv",
        ORDERS_HEADER + order("o1", "0") + order("o2", "-5") + order("o3", "12.50"),
    )
    drop.load()

    assert drop.ids() == ["o1", "o3"]
    assert drop.quarantine() == [("crm/orders/a.csv", 3, "revenue", "revenue: negative value")]


def test_duplicate_ids_land_in_raw_and_staging_keeps_the_last(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1", "1") + order("o1", "2"))
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o1", "3") + order("o2", "4"))
    drop.load()

    assert drop.ids() == ["o1", "o1", "o1", "o2"]
    assert drop.quarantine() == []
    assert drop.query(STAGED_ORDERS) == [("o1", 3.0), ("o2", 4.0)]  # b.csv was loaded last
    drop.write("crm/orders/c.csv", ORDERS_HEADER + order("o1", "5") + order("o1", "6"))
    drop.load()
    assert drop.query(STAGED_ORDERS) == [("o1", 6.0), ("o2", 4.0)]  # within c.csv, line 3


def test_empty_file_is_rejected_header_only_file_loads_nothing(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", b"")
    drop.write("crm/orders/b.csv", ORDERS_HEADER)
    drop.write("crm/orders/c.csv", ORDERS_HEADER + order("o1"))
    drop.write("conversations/empty.jsonl", b"")
    drop.write("conversations/day.jsonl", conversation("k1") + "\n")
    report = drop.load()
    drop.load(CONVERSATIONS)

    assert drop.ids() == ["o1"]
    assert [o.error for o in report.rejected] == [
        "crm/orders/a.csv: empty file (0 bytes); expected a header on line 1"
    ]
    assert drop.manifest() == [
        ("crm/orders/a.csv", 1, "rejected", 0, 0),
        ("crm/orders/b.csv", 1, "loaded", 0, 0),
        ("crm/orders/c.csv", 1, "loaded", 1, 0),
    ]
    assert drop.manifest("conversations") == [
        ("conversations/day.jsonl", 1, "loaded", 1, 0),
        ("conversations/empty.jsonl", 1, "loaded", 0, 0),
    ]


def test_a_10_mb_csv_record_is_quarantined_unread(drop: Drop) -> None:
    big = "o2,c1,2026-03-01T10:00:00Z,5,1," + "x" * TEN_MB
    drop.write(
        "crm/orders/a.csv",
        NOTE_HEADER + order("o1")[:-1] + ",\n" + big + "\no3,c1,2026-03-01T10:00:00Z,5,1,\n",
    )
    drop.load()

    assert drop.ids() == ["o1", "o3"]
    limit = MAX_RECORD_BYTES // 2**20
    assert drop.quarantine() == [
        (
            "crm/orders/a.csv",
            3,
            "line",
            f"line: record is {len(big):,} bytes (limit {limit} MiB per record)",
        )
    ]
    (record,) = drop.query("select record from raw.quarantine")[0]
    assert len(record) == 2000  # an excerpt, not 10 MB


def test_a_10_mb_jsonl_line_is_quarantined_unread(drop: Drop) -> None:
    big = conversation("k2", text="y" * TEN_MB)
    lines = [conversation("k1"), big, conversation("k3")]
    drop.write("conversations/day.jsonl", "\n".join(lines) + "\n")
    drop.load(CONVERSATIONS)

    assert drop.ids("raw.conversations", "conversation_id") == ["k1", "k3"]
    limit = MAX_RECORD_BYTES // 2**20
    assert drop.quarantine("conversations") == [
        (
            "conversations/day.jsonl",
            2,
            "line",
            f"line: record is {len(big):,} bytes (limit {limit} MiB per record)",
        )
    ]


def test_formula_text_is_stored_verbatim_and_a_formula_is_not_a_number(drop: Drop) -> None:
    hyperlink = '=HYPERLINK("http://x","y")'
    drop.write(
        "crm/orders/a.csv",
        NOTE_HEADER
        + 'o1,c1,2026-03-01T10:00:00Z,5,1,"=HYPERLINK(""http://x"",""y"")"\n'
        + "o2,c1,2026-03-01T10:00:00Z,=1+1,1,\n"
        + "o3,c1,2026-03-01T10:00:00Z,5,1,@SUM(A1)\n"
        + "o4,c1,2026-03-01T10:00:00Z,5,1,+1-1\n",
    )
    drop.write("conversations/day.jsonl", conversation("k1", text=hyperlink) + "\n")
    drop.load()
    drop.load(CONVERSATIONS)

    assert drop.query("select order_id, note from raw.crm_orders order by 1") == [
        ("o1", hyperlink),
        ("o3", "@SUM(A1)"),
        ("o4", "+1-1"),
    ]
    assert drop.quarantine() == [("crm/orders/a.csv", 3, "revenue", "revenue: not a number")]
    messages = drop.query("select text from raw.conversation_messages where message_index = 0")
    assert messages == [(hyperlink,)]


def test_bad_conversation_lines_are_quarantined_by_field(drop: Drop) -> None:
    robot = conversation("k3", messages=[{"role": "robot", "text": "x", "sent_at": "x"}])
    local = conversation(
        "k4",
        messages=[{"role": "user", "text": "hi", "sent_at": "2026-03-01T10:00:00"}],
    )
    latin1 = conversation("k2", text="caf__").encode().replace(b"caf__", b"caf\xe9")
    content = b"\n".join(
        [
            conversation("k1").encode(),
            latin1,
            robot.encode(),
            local.encode(),
            conversation("k5", text="mail ann@example.com").encode(),
            conversation("k6", text="LONE").replace("LONE", "\\udc80").encode(),
            conversation("k7").encode()[:45],  # the export stopped mid-line
        ]
    )
    drop.write("conversations/day.jsonl", content)
    drop.load(CONVERSATIONS)

    assert drop.ids("raw.conversations", "conversation_id") == ["k1", "k5"]
    at = latin1.index(b"\xe9") + 1
    assert drop.quarantine("conversations") == [
        (
            "conversations/day.jsonl",
            2,
            "messages[0].text",
            f"messages[0].text: invalid UTF-8 (byte 0xe9 at byte {at})",
        ),
        (
            "conversations/day.jsonl",
            3,
            "messages[0].role",
            "messages[0].role: unknown role 'robot'",
        ),
        (
            "conversations/day.jsonl",
            4,
            "messages[0].sent_at",
            "messages[0].sent_at: timestamp without UTC offset '2026-03-01T10:00:00'",
        ),
        (
            "conversations/day.jsonl",
            6,
            "messages[0].text",
            "messages[0].text: invalid Unicode (an unpaired surrogate escape)",
        ),
        (
            "conversations/day.jsonl",
            7,
            "line",
            "line: invalid JSON: Unterminated string starting at column 41",
        ),
    ]
    texts = drop.query("select text from raw.conversation_messages order by 1")
    assert ("mail [email]",) in texts


def test_rows_with_too_many_fields_and_unbalanced_quotes_cost_one_line(drop: Drop) -> None:
    drop.write(
        "crm/orders/a.csv",
        ORDERS_HEADER
        + order("o1")
        + "o2,c1,2026-03-01T10:00:00Z,5,1,extra\n"
        + 'o3,"c1,2026-03-01T10:00:00Z,5,1\n'
        + order("o4")
        + "\n"
        + order("o5"),
    )
    drop.load()

    assert drop.ids() == ["o1", "o4", "o5"]
    assert [(line, reason.split(":")[1].strip()) for _, line, _, reason in drop.quarantine()] == [
        (3, "expected 5 fields, found 6"),
        (4, "unbalanced quote"),
    ]


def test_corrupt_parquet_and_duplicate_columns_reject_the_file(drop: Drop) -> None:
    drop.write("crm/orders/a.parquet", b"PAR1 not really PAR1")
    drop.write("crm/orders/b.csv", "order_id,contact_id,ordered_at,revenue,Revenue\n")
    good = drop.landing / "crm/orders/c.parquet"
    pd.DataFrame(
        {
            "order_id": ["o1"],
            "contact_id": ["c1"],
            "ordered_at": ["2026-03-01T10:00:00Z"],
            "revenue": [5.0],
        }
    ).to_parquet(good)
    report = drop.load()

    assert drop.ids() == ["o1"]
    errors = {o.file: o.error for o in report.rejected}
    assert errors["crm/orders/a.parquet"].startswith(
        "crm/orders/a.parquet: unreadable Parquet file ("
    )
    assert errors["crm/orders/b.csv"] == (
        "crm/orders/b.csv, line 1: duplicate column 'Revenue' (column names are compared "
        "without regard to case)"
    )


def test_windows_exports_with_bom_and_crlf_load(drop: Drop) -> None:
    content = "\ufeff" + (ORDERS_HEADER + order("o1") + order("o2", "-1") + order("o3"))
    drop.write("crm/orders/a.csv", content.replace("\n", "\r\n").encode())
    drop.load()

    assert drop.query("select order_id, items, _line from raw.crm_orders order by 1") == [
        ("o1", 1, 2),
        ("o3", 1, 4),
    ]
    assert [line for _, line, _, _ in drop.quarantine()] == [3]


def test_quarantined_records_keep_the_row_as_found(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + "o1, c1 ,2026-03-01T10:00:00Z,-2,1\n")
    drop.load()

    (record,) = drop.query("select record from raw.quarantine")[0]
    assert json.loads(record) == {
        "order_id": "o1",
        "contact_id": " c1 ",
        "ordered_at": "2026-03-01T10:00:00Z",
        "revenue": "-2",
        "items": "1",
    }


# Addresses and numbers the quarantine tests plant; none may be found in raw.quarantine.
PII = ("ann.lee", "bob@example.com", "carol", "dave.kim", "erin.fox", "5551234567", "7946")


def _quarantine_text(drop: Drop) -> str:
    rows = drop.query("select field, reason, record from raw.quarantine order by line")
    return json.dumps(rows, ensure_ascii=False)


def test_quarantined_conversation_lines_are_redacted_like_loaded_text(drop: Drop) -> None:
    contact = {"contact_id": "1234", "email": "bob@example.com"}
    robot = conversation(
        "k1",
        contact=contact,
        messages=[{"role": "robot", "text": "ann.lee@example.com or\n5551234567", "sent_at": "x"}],
    )
    quoted = conversation("k2").replace('"role": "user"', '"role": "carol@example.com"')
    escaped = conversation("k4", text="ann.leeATexample.comNL5551234567")
    lines = [
        robot,
        quoted,
        conversation("k3", csat="ring +44 20 7946 0958"),
        # Cut short, so never parsed: escapes hide an address and a number from the patterns
        # unless decoded, and the last address is only half there.
        escaped.replace("AT", "\\u0040").replace("NL", "\\n")[:-70],
        conversation("k5", text="write to dave.kim@example.com").split("@")[0] + "@exam",
    ]
    drop.write("conversations/day.jsonl", "\n".join(lines))
    drop.load(CONVERSATIONS)

    assert [row[2] for row in drop.quarantine("conversations")] == [
        "messages[0].role",
        "messages[0].role",
        "csat",
        "line",
        "line",
    ]
    assert drop.quarantine("conversations")[1][3] == "messages[0].role: unknown role '[email]'"
    assert drop.quarantine("conversations")[2][3] == (
        "csat: expected a whole number 1–5, got 'ring [phone]'"
    )
    text = _quarantine_text(drop)
    assert not [pii for pii in PII if pii in text]
    # A line that parses stays JSON, its strings redacted as message text is.
    (record,) = drop.query("select record from raw.quarantine where line = 1")[0]
    assert json.loads(record)["messages"][0]["text"] == "[email] or\n[phone]"
    # Ids and dates are not numbers to hide.
    assert json.loads(record)["contact"] == {"contact_id": "1234", "email": "[email]"}
    assert json.loads(record)["started_at"] == "2026-03-01T10:00:00+01:00"


def test_an_address_across_the_excerpt_cut_is_redacted_whole(drop: Drop) -> None:
    prefix = conversation("k1", text="TEXT").split("TEXT")[0]
    filler = "y " * ((1990 - len(prefix)) // 2)  # the 2 000-character cut falls in the address
    big = conversation("k1", text=filler + "erin.fox@example.com " + "z" * TEN_MB)
    assert 1990 < big.index("erin.fox") + len("erin.fox@") < 2010
    drop.write("conversations/day.jsonl", big + "\n" + conversation("k2") + "\n")
    drop.load(CONVERSATIONS)

    (record,) = drop.query("select record from raw.quarantine")[0]
    assert len(record) <= 2000 and record.startswith(prefix)
    assert "erin" not in record and "fox@" not in record
    assert drop.ids("raw.conversations", "conversation_id") == ["k2"]


def test_a_value_of_the_wrong_type_costs_its_line_not_the_file(drop: Drop) -> None:
    lines = [
        conversation("k1", channel=5, contact={"contact_id": 1234, "email": "x@example.com"}),
        conversation("k2", channel={"note": "ann.lee@example.com"}),
        conversation("k3", contact={"email": ["bob@example.com"]}),
        conversation("k4", csat=True),
        conversation("k5"),
    ]
    drop.write("conversations/day.jsonl", "\n".join(lines) + "\n")
    report = drop.load(CONVERSATIONS)

    assert report.rejected == []
    assert drop.query("select conversation_id, channel, contact_id from raw.conversations") == [
        ("k1", "5", "1234"),
        ("k5", "chat", "c1"),
    ]
    assert [row[1:] for row in drop.quarantine("conversations")] == [
        (2, "channel", "channel: expected text, got dict"),
        (3, "contact.email", "contact.email: expected text, got list"),
        (4, "csat", "csat: expected a whole number 1–5, got True"),
    ]
    assert not [pii for pii in PII if pii in _quarantine_text(drop)]


def test_a_conversation_file_rejected_whole_has_its_error_redacted(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unexpected(raw: bytes) -> None:
        raise TypeError(f"cannot store {raw.decode()[:300]!r}")

    monkeypatch.setattr("flywheel_pipeline.sources.files.conversations._parse_line", unexpected)
    drop.write("conversations/day.jsonl", conversation("k1", text="ann.lee@example.com") + "\n")
    (outcome,) = drop.load(CONVERSATIONS).rejected

    assert outcome.error.startswith("conversations/day.jsonl: unreadable (TypeError: cannot")
    assert "[email]" in outcome.error and "ann.lee" not in outcome.error
