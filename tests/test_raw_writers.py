"""Each raw table has one writer: only the raw assets (and the modules they call) write `raw.`.

The lineage Dagster shows is the truth only if no other asset writes rows of a raw table: the
demo writes landing files and snapshots, and the raw assets reconcile their own tables (a
mirrored landing folder, GA4 and Search Console days outside what the source serves). This
scans the package's source for SQL and warehouse helpers that write a `raw.` relation.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "flywheel_pipeline"
# The raw assets and the modules they call: the only places allowed to write `raw.`.
OWNERS = ("sources/files/", "sources/ga4/", "sources/search_console/", "sources/google/")

_RAW = r"""(?:f|rf|fr)?(?:'|")?\s*(?:"?raw"?)\."""
# SQL that writes a relation spelled out as raw.<table>.
_WRITING_SQL = re.compile(
    r"\b(?:insert\s+(?:or\s+replace\s+)?into|delete\s+from|update|truncate(?:\s+table)?"
    r"|create\s+(?:or\s+replace\s+)?table(?:\s+if\s+not\s+exists)?"
    r"|drop\s+table(?:\s+if\s+exists)?|alter\s+table|copy)\s+" + r'"?raw"?\.',
    re.IGNORECASE,
)
# The warehouse's writing helpers (warehouse.py), called on a raw relation.
_HELPERS = (
    r"replace_table|replace_table_streaming|replace_rows|replace_slice_streaming"
    r"|StreamingTableWriter|StagedAppend|create_table_if_missing|add_missing_columns"
)
_HELPER_ON_RAW = re.compile(rf"\b(?:{_HELPERS})\(\s*\w+\s*,\s*{_RAW}")
# Any write at all (on a relation named through a variable), and a raw relation's name as a
# string: together in one module they are a writer of raw tables (`delete from {relation}`
# with `relation = f"raw.{table}"`).
_ANY_WRITE = re.compile(
    r"\b(?:insert\s+into|delete\s+from|update\s+\S+\s+set|create\s+(?:or\s+replace\s+)?table"
    rf"|drop\s+table|alter\s+table)\b|\b(?:{_HELPERS})\(",
    re.IGNORECASE,
)
_RAW_NAME = re.compile(r"""(?<![\w.])(?:f|rf|fr)?(?:'|")raw\.[\w{]""", re.IGNORECASE)
# The file-drop loaders' own writing functions (sources/files/drops.py, manifest.py).
_DROP_WRITERS = re.compile(
    r"(?<!def )\b(?:retire_files|load_new_files|live_files|ensure_tables"
    r"|manifest\.record|manifest\.ensure_manifest)\("
)


def raw_writes(source: str) -> list[int]:
    """Line numbers of `source` (Python) that write a raw table, directly or by name."""
    hits = {m.start() for m in _WRITING_SQL.finditer(source)}
    hits |= {m.start() for m in _HELPER_ON_RAW.finditer(source)}
    hits |= {m.start() for m in _DROP_WRITERS.finditer(source)}
    if _ANY_WRITE.search(source):
        hits |= {m.start() for m in _RAW_NAME.finditer(source)}
    return sorted({source.count("\n", 0, at) + 1 for at in hits})


def _writers() -> dict[str, list[int]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = raw_writes(path.read_text(encoding="utf-8"))
        if lines:
            found[path.relative_to(PACKAGE).as_posix()] = lines
    return found


def test_only_the_raw_assets_write_raw_tables() -> None:
    writers = _writers()
    outside = {path: lines for path, lines in writers.items() if not path.startswith(OWNERS)}
    assert outside == {}, f"raw tables written outside the raw assets: {outside}"
    # The scan sees the real writers, so an empty `outside` means something.
    assert "sources/google/assets.py" in writers  # GA4's and Search Console's raw assets
    assert "sources/files/manifest.py" in writers


def test_the_scan_catches_writes_however_the_relation_is_named() -> None:
    # What the demo asset used to do (its trimming of the Google tables), and other spellings.
    trim = (
        "for report in reports:\n"
        '    relation = f"raw.{report.table}"\n'
        '    conn.execute(f"delete from {relation} where date < ?", [first])\n'
    )
    assert raw_writes(trim) == [2]
    # What it did to the file-drop tables, through the loaders' functions.
    assert raw_writes("retired += retire_files(conn, source, stale)") == [1]
    assert raw_writes('conn.execute("insert into raw.crm_orders select 1")') == [1]
    assert raw_writes('conn.execute("CREATE OR REPLACE TABLE raw.x AS select 1")') == [1]
    assert raw_writes('replace_table(\n    conn,\n    "raw.ga4_pages",\n    frame,\n)')
    assert raw_writes('replace_table(conn, f"demo_truth.{name}", frame)') == []
    # Reading a raw table is not writing it.
    assert raw_writes('conn.execute("select count(*) from raw.crm_orders")') == []
