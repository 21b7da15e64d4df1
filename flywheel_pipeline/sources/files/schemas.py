"""What each file drop must contain: columns, types and the rules a row must satisfy.

A column marked `required` must be in the file's header (under its own name or the one a
mapping gives it, mapping.py), or the file is rejected whole: only the columns a table cannot
live without are (its id, its timestamp, an amount where it is the point). Any other column
may be absent, and is null then; present, it may also be empty. Rules on values
(`nullable`, `non_negative`, `allowed`, `value_range`) send a failing row to `raw.quarantine`
while the other rows load. Columns not listed here are kept as text.
The SQL types here are the raw tables' types; extra columns are VARCHAR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "timestamp", "date", "float", "int", "bool"]

SQL_TYPES: dict[Kind, str] = {
    "text": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "float": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
}
EXTRA_COLUMN_TYPE = "VARCHAR"
# Every raw row says where it came from: the file (relative to the landing folder), the
# physical line its record starts on (CSV header = line 1; Parquet: row number), and when
# that file version was loaded.
LINEAGE_COLUMNS = {"_source_file": "VARCHAR", "_line": "BIGINT", "_loaded_at": "TIMESTAMP"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "text"
    required: bool = True
    nullable: bool = True
    non_negative: bool = False
    value_range: tuple[float, float] | None = None
    allowed: frozenset[str] | None = None


@dataclass(frozen=True)
class FileTable:
    """One raw table fed by the files under `landing/<folder>/`."""

    name: str
    folder: str
    columns: tuple[Column, ...]
    patterns: tuple[str, ...] = field(default=("*.csv", "*.parquet"))
    # Whether the folder may hold a mapping.yaml (column names, presets, zone, delimiter…).
    mappable: bool = True

    @property
    def relation(self) -> str:
        return f"raw.{self.name}"

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def sql_columns(self) -> dict[str, str]:
        """The raw table's declared columns and lineage, name -> SQL type."""
        return {c.name: SQL_TYPES[c.kind] for c in self.columns} | LINEAGE_COLUMNS


def _id(name: str) -> Column:
    return Column(name, nullable=False)


def _optional(name: str, kind: Kind = "text") -> Column:
    return Column(name, kind, required=False)


CRM_TABLES: tuple[FileTable, ...] = (
    FileTable(
        "crm_contacts",
        "crm/contacts",
        (
            _id("contact_id"),
            _optional("email"),
            Column("created_at", "timestamp", nullable=False),
            _optional("source"),
            _optional("medium"),
            _optional("campaign"),
            _optional("ga_client_id"),
            _optional("company"),
            _optional("industry"),
            _optional("company_size"),
            _optional("country"),
        ),
    ),
    FileTable(
        "crm_deals",
        "crm/deals",
        (
            _id("deal_id"),
            _optional("contact_id"),
            Column("created_at", "timestamp", nullable=False),
            _optional("stage"),
            Column("amount", "float", required=False, non_negative=True),
            _optional("closed_at", "timestamp"),
            _optional("is_won", "bool"),
        ),
    ),
    FileTable(
        "crm_deal_stage_history",
        "crm/deal_stage_history",
        (
            _id("deal_id"),
            Column("stage", nullable=False),
            Column("entered_at", "timestamp", nullable=False),
        ),
    ),
    FileTable(
        "crm_orders",
        "crm/orders",
        (
            _id("order_id"),
            _optional("contact_id"),
            Column("ordered_at", "timestamp", nullable=False),
            Column("revenue", "float", nullable=False, non_negative=True),
            _optional("items", "int"),
            # reaches the person when the export has no contact id (Shopify)
            _optional("email"),
        ),
    ),
    FileTable(
        "crm_nps_responses",
        "crm/nps_responses",
        (
            _id("contact_id"),
            Column("responded_at", "timestamp", nullable=False),
            Column("score", "int", nullable=False, value_range=(0, 10)),
            _optional("comment"),
        ),
    ),
    FileTable(
        "crm_referrals",
        "crm/referrals",
        (
            _id("referrer_contact_id"),
            _id("referred_contact_id"),
            Column("referred_at", "timestamp", nullable=False),
        ),
    ),
    FileTable(
        "crm_ad_spend",
        "crm/ad_spend",
        (
            Column("date", "date", nullable=False),
            Column("source", nullable=False),
            _optional("medium"),
            _optional("campaign"),
            Column("spend", "float", nullable=False, non_negative=True),
            _optional("impressions", "int"),
            _optional("clicks", "int"),
        ),
    ),
)

DECISIONS = FileTable(
    "decisions",
    "decisions",
    (
        _id("recommendation_id"),
        Column("status", nullable=False, allowed=frozenset({"accepted", "rejected", "done"})),
        Column("decided_at", "timestamp", nullable=False),
        _optional("note"),
    ),
    patterns=("*.csv",),
    mappable=False,
)

CONVERSATION_ROLES = frozenset({"user", "assistant", "agent"})

CONVERSATIONS_SOURCE = "conversations"
CONVERSATIONS_FOLDER = "conversations"
CONVERSATION_COLUMNS = {
    "conversation_id": "VARCHAR",
    "started_at": "TIMESTAMP",
    "channel": "VARCHAR",
    "contact_id": "VARCHAR",
    "contact_email": "VARCHAR",
    "ga_client_id": "VARCHAR",
    "resolved": "BOOLEAN",
    "handed_off": "BOOLEAN",
    "csat": "INTEGER",
} | LINEAGE_COLUMNS
MESSAGE_COLUMNS = {
    "conversation_id": "VARCHAR",
    "message_index": "INTEGER",
    "role": "VARCHAR",
    "text": "VARCHAR",
    "sent_at": "TIMESTAMP",
} | LINEAGE_COLUMNS

QUARANTINE_RELATION = "raw.quarantine"
QUARANTINE_SQL_COLUMNS = {
    "source": "VARCHAR",
    "file": "VARCHAR",
    "line": "BIGINT",
    "field": "VARCHAR",
    "reason": "VARCHAR",
    "record": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}
QUARANTINE_COLUMNS = list(QUARANTINE_SQL_COLUMNS)
