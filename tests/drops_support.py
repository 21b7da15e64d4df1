"""A landing folder and a warehouse in a temporary directory, for the file-drop tests."""

from __future__ import annotations

import json
from pathlib import Path

from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sources.files.drops import (
    CONVERSATIONS_DROP,
    DropReport,
    DropSource,
    load_new_files,
    table_drop,
)
from flywheel_pipeline.sources.files.schemas import CRM_TABLES
from flywheel_pipeline.warehouse import WarehouseResource, connect

ORDERS_TABLE = next(t for t in CRM_TABLES if t.name == "crm_orders")
ORDERS = table_drop(ORDERS_TABLE)
CONVERSATIONS = CONVERSATIONS_DROP
ORDERS_HEADER = "order_id,contact_id,ordered_at,revenue,items\n"
# Staging's rule (dbt_project/macros/deduplicate.sql), restated to check what raw gives it.
STAGED_ORDERS = """
    select order_id, revenue from (
        select *, row_number() over (
            partition by order_id order by _loaded_at desc, _source_file desc, _line desc
        ) as rank
        from raw.crm_orders
    ) where rank = 1 order by order_id
"""


def order(order_id: str, revenue: str = "5", ordered_at: str = "2026-03-01T10:00:00Z") -> str:
    return f"{order_id},c1,{ordered_at},{revenue},1\n"


def conversation(conversation_id: str, text: str = "hello", **extra: object) -> str:
    record = {
        "conversation_id": conversation_id,
        "started_at": "2026-03-01T10:00:00+01:00",
        "channel": "chat",
        "contact": {"contact_id": "c1"},
        "messages": [
            {"role": "user", "text": text, "sent_at": "2026-03-01T10:00:00+01:00"},
            {"role": "assistant", "text": "Happy to help.", "sent_at": "2026-03-01T10:00:05Z"},
        ],
    }
    record.update(extra)
    return json.dumps(record, ensure_ascii=False)


class Drop:
    """Files land in `landing`; `load` runs the real loader into `database`."""

    def __init__(self, root: Path) -> None:
        self.landing = root / "landing"
        self.database = root / "warehouse" / "warehouse.duckdb"
        self.database.parent.mkdir(parents=True, exist_ok=True)

    def write(self, relative: str, content: str | bytes) -> Path:
        path = self.landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def resources(self, **paths: str) -> dict:
        """The resources the file-drop assets need, rooted beside the landing folder; `paths`
        sets more of FlywheelPaths (its timezone, say)."""
        root = self.landing.parent
        return {
            "warehouse": WarehouseResource(path=str(self.database)),
            "paths": FlywheelPaths(
                home=str(root),
                landing_dir=str(self.landing),
                reports_dir=str(root / "reports"),
                serving_dir=str(root / "serving"),
                demo_dir=str(root / "demo"),
                **paths,
            ),
        }

    def load(self, source: DropSource = ORDERS) -> DropReport:
        with connect(self.database) as conn:
            return load_new_files(conn, source, self.landing)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with connect(self.database, read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()

    def ids(self, relation: str = "raw.crm_orders", key: str = "order_id") -> list[str]:
        """Keys in file and line order."""
        rows = self.query(f"select {key} from {relation} order by _source_file, _line")
        return [row[0] for row in rows]

    def quarantine(self, source: str = "crm_orders") -> list[tuple]:
        """(file, line, field, reason) in file and line order."""
        return self.query(
            "select file, line, field, reason from raw.quarantine where source = ? "
            "order by file, line",
            [source],
        )

    def manifest(self, source: str = "crm_orders") -> list[tuple]:
        """(file, version, status, rows_loaded, rows_quarantined) in file and version order."""
        return self.query(
            "select file, version, status, rows_loaded, rows_quarantined from raw.file_manifest "
            "where source = ? order by file, version",
            [source],
        )

    def tables(self) -> dict[str, list[tuple]]:
        """Every table of schema raw, rows sorted: to compare the warehouse before and after."""
        with connect(self.database, read_only=True) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "select table_name from duckdb_tables() where database_name = "
                    "current_database() and schema_name = 'raw' order by 1"
                ).fetchall()
            ]
            return {
                name: sorted(conn.execute(f"select * from raw.{name}").fetchall(), key=repr)
                for name in names
            }
