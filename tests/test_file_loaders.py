"""File drops: typed rows load, bad rows go to quarantine, unreadable files are rejected whole."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from flywheel_pipeline.sources.files.conversations import load_conversations, redact
from flywheel_pipeline.sources.files.schemas import CRM_TABLES, DECISIONS
from flywheel_pipeline.sources.files.tables import load_table

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
    record = {
        "conversation_id": conversation_id,
        "started_at": "2026-03-01T10:00:00+01:00",
        "channel": "chat",
        "contact": {"email": "ann@example.com"},
        "messages": [
            {"role": "user", "text": text, "sent_at": "2026-03-01T10:00:00+01:00"},
            {"role": "assistant", "text": "Happy to help.", "sent_at": "2026-03-01T10:00:05Z"},
        ],
        "resolved": True,
    }
    record.update(extra)
    return json.dumps(record)


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
