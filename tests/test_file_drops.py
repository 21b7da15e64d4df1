"""Landing files load exactly once and atomically; the manifest says what happened to each."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from flywheel_pipeline.sources.files import manifest
from flywheel_pipeline.sources.files.assets import conversations_asset, file_table_asset
from flywheel_pipeline.sources.files.drops import (
    MIRROR_FILE,
    live_files,
    load_new_files,
    mirror_marker,
    mirrored_patterns,
    retire_files,
    table_drop,
)
from flywheel_pipeline.sources.files.tables import load_table
from flywheel_pipeline.warehouse import connect, memory_limit
from tests.drops_support import (
    CONVERSATIONS,
    ORDERS,
    ORDERS_HEADER,
    ORDERS_TABLE,
    STAGED_ORDERS,
    Drop,
    conversation,
    order,
)


@pytest.fixture
def drop(tmp_path: Path) -> Drop:
    return Drop(tmp_path)


def test_each_file_version_loads_once_and_a_rerun_changes_nothing(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1") + order("o2", revenue="-1"))
    first = drop.load()
    before = drop.tables()
    second = drop.load()

    assert [(o.file, o.version, o.status, o.rows, o.quarantined) for o in first.outcomes] == [
        ("crm/orders/a.csv", 1, "loaded", 1, 1)
    ]
    assert second.outcomes == [] and second.unchanged == ["crm/orders/a.csv"]
    assert drop.tables() == before  # _loaded_at included: nothing was rewritten
    assert drop.manifest() == [("crm/orders/a.csv", 1, "loaded", 1, 1)]


def test_a_new_file_is_appended_to_what_is_loaded(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1"))
    drop.load()
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o2") + order("o3"))
    report = drop.load()

    assert [o.file for o in report.loaded] == ["crm/orders/b.csv"]
    assert report.unchanged == ["crm/orders/a.csv"]
    assert drop.ids() == ["o1", "o2", "o3"]


def test_a_changed_file_replaces_its_earlier_version_rows_and_quarantine(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1") + order("o2", revenue="x"))
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o9"))
    drop.load()
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1", revenue="7") + order("o3"))
    report = drop.load()

    assert [(o.file, o.version) for o in report.new_versions] == [("crm/orders/a.csv", 2)]
    assert drop.ids() == ["o1", "o3", "o9"]
    assert drop.query("select revenue from raw.crm_orders where order_id = 'o1'") == [(7.0,)]
    assert drop.quarantine() == []  # version 1's bad row went with version 1
    assert drop.manifest() == [
        ("crm/orders/a.csv", 1, "loaded", 1, 1),
        ("crm/orders/a.csv", 2, "loaded", 2, 0),
        ("crm/orders/b.csv", 1, "loaded", 1, 0),
    ]


def test_content_changed_back_is_another_version(drop: Drop) -> None:
    original = ORDERS_HEADER + order("o1")
    drop.write("crm/orders/a.csv", original)
    drop.load()
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o2"))
    drop.load()
    drop.write("crm/orders/a.csv", original)
    report = drop.load()

    assert [o.version for o in report.loaded] == [3]
    assert drop.ids() == ["o1"]


def test_a_rejected_file_is_recorded_and_retried_only_when_it_changes(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", "order_id,revenue\no1,5\n")
    first = drop.load()
    second = drop.load()
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1"))
    third = drop.load()

    assert [o.status for o in first.outcomes] == ["rejected"]
    assert "crm/orders/a.csv, line 1: missing required column(s)" in first.outcomes[0].error
    assert second.outcomes == []
    assert second.still_rejected == {"crm/orders/a.csv": first.outcomes[0].error}
    assert [(o.version, o.status) for o in third.outcomes] == [(2, "loaded")]
    assert drop.query("select version, status, error is null from raw.file_manifest") == [
        (1, "rejected", False),
        (2, "loaded", True),
    ]


def test_a_rejected_new_version_keeps_the_rows_of_the_last_good_one(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1") + order("o2", revenue="-3"))
    drop.load()
    drop.write("crm/orders/a.csv", b"")  # an export that failed half-way
    report = drop.load()

    assert [(o.version, o.status) for o in report.outcomes] == [(2, "rejected")]
    assert drop.ids() == ["o1"]
    assert [row[1] for row in drop.quarantine()] == [3]


def test_a_removed_file_keeps_its_rows(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1"))
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o2"))
    drop.load()
    (drop.landing / "crm/orders/a.csv").unlink()
    report = drop.load()

    assert report.gone == ["crm/orders/a.csv"]
    assert drop.ids() == ["o1", "o2"]


def _mirror(drop: Drop, folder: str, *patterns: str) -> None:
    drop.write(f"{folder}/{MIRROR_FILE}", mirror_marker(patterns, owner="a test"))


def test_a_mirrored_folder_retires_the_rows_of_mirrored_files_once_they_are_gone(
    drop: Drop,
) -> None:
    _mirror(drop, "crm/orders", "demo_*")
    _mirror(drop, "conversations", "demo_*")
    drop.write("crm/orders/demo_orders_2026-07.csv", ORDERS_HEADER + order("o1"))
    drop.write("crm/orders/demo_orders_2026-08.csv", ORDERS_HEADER + order("o2", revenue="-1"))
    drop.write("crm/orders/shop_export.csv", ORDERS_HEADER + order("s1"))  # a real drop
    drop.write("conversations/demo_conversations_2026-07.jsonl", conversation("k1") + "\n")
    assert drop.load().retired == []
    drop.load(CONVERSATIONS)
    # The mirror's writer rewrites the folder: July is no longer part of it, and the user
    # removes their export (the marker is not a file of the folder's data).
    for name in ("demo_orders_2026-07.csv", "demo_orders_2026-08.csv", "shop_export.csv"):
        (drop.landing / "crm/orders" / name).unlink()
    drop.write("crm/orders/demo_orders_2026-08.csv", ORDERS_HEADER + order("o3"))
    (drop.landing / "conversations/demo_conversations_2026-07.jsonl").unlink()

    report = drop.load()
    assert report.retired == ["crm/orders/demo_orders_2026-07.csv"]
    assert report.gone == ["crm/orders/shop_export.csv"]  # not mirrored: its rows stay
    assert drop.ids() == ["o3", "s1"] and drop.quarantine() == []
    assert drop.load(CONVERSATIONS).retired == ["conversations/demo_conversations_2026-07.jsonl"]
    assert drop.query("select count(*) from raw.conversations") == [(0,)]
    assert drop.query("select count(*) from raw.conversation_messages") == [(0,)]
    assert ("crm/orders/demo_orders_2026-07.csv", 2, "retired", 0, 0) in drop.manifest()
    rerun = drop.load()  # retired once: a rerun changes nothing
    assert rerun.retired == [] and rerun.gone == ["crm/orders/shop_export.csv"]


def test_a_load_after_a_writer_died_mid_rewrite_still_retires_what_it_removed(
    drop: Drop,
) -> None:
    """From the manifest and the folder as they stand: whatever load comes next, however many
    rewrites ran in between without one, the table ends as the folder is."""
    _mirror(drop, "crm/orders", "demo_*")
    drop.write("crm/orders/demo_a.csv", ORDERS_HEADER + order("o1"))
    drop.write("crm/orders/demo_b.csv", ORDERS_HEADER + order("o2"))
    drop.load()
    (drop.landing / "crm/orders/demo_a.csv").unlink()  # one rewrite, no load after it
    (drop.landing / "crm/orders/demo_b.csv").unlink()  # another
    drop.write("crm/orders/demo_c.csv", ORDERS_HEADER + order("o3"))

    report = drop.load()
    assert report.retired == ["crm/orders/demo_a.csv", "crm/orders/demo_b.csv"]
    assert drop.ids() == ["o3"]


def test_without_a_marker_or_outside_its_patterns_a_removed_file_keeps_its_rows(
    drop: Drop,
) -> None:
    drop.write("crm/orders/demo_a.csv", ORDERS_HEADER + order("o1"))
    drop.write("crm/orders/user.csv", ORDERS_HEADER + order("u1"))
    drop.load()
    (drop.landing / "crm/orders/demo_a.csv").unlink()
    (drop.landing / "crm/orders/user.csv").unlink()
    report = drop.load()  # no marker: an inbox, whatever the names
    assert report.retired == [] and report.gone == ["crm/orders/demo_a.csv", "crm/orders/user.csv"]

    _mirror(drop, "crm/orders", "demo_*")
    report = drop.load()  # marked since: the mirrored name goes, the user's file stays
    assert report.retired == ["crm/orders/demo_a.csv"] and report.gone == ["crm/orders/user.csv"]
    assert drop.ids() == ["u1"]


def test_the_mirror_marker_names_patterns_one_a_line(drop: Drop) -> None:
    folder = drop.landing / "crm/orders"
    assert mirrored_patterns(folder) == ()
    drop.write(f"crm/orders/{MIRROR_FILE}", "# the exporter's files\n\ndemo_*  \nsync_*.csv # x\n")
    assert mirrored_patterns(folder) == ("demo_*", "sync_*.csv")
    assert MIRROR_FILE in ORDERS.settings_files  # the landing sensor watches it
    assert MIRROR_FILE in CONVERSATIONS.settings_files


def test_a_retired_file_loses_its_rows_and_loads_again_when_dropped_again(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1") + order("o2", revenue="-1"))
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o3"))
    drop.write("conversations/a.jsonl", conversation("k1") + "\n")
    drop.load()
    drop.load(CONVERSATIONS)
    a = drop.landing / "crm/orders/a.csv"
    content = a.read_bytes()
    a.unlink()
    (drop.landing / "conversations/a.jsonl").unlink()

    with connect(drop.database) as conn:
        retired = retire_files(conn, ORDERS, ["crm/orders/a.csv", "crm/orders/unknown.csv"])
        assert retire_files(conn, ORDERS, ["crm/orders/a.csv"]) == []  # once only
        retire_files(conn, CONVERSATIONS, ["conversations/a.jsonl"])
        assert live_files(conn, ORDERS) == ["crm/orders/b.csv"]
    assert retired == ["crm/orders/a.csv"]
    assert drop.ids() == ["o3"] and drop.quarantine() == []
    assert drop.query("select count(*) from raw.conversation_messages") == [(0,)]
    assert drop.manifest()[:2] == [
        ("crm/orders/a.csv", 1, "loaded", 1, 1),
        ("crm/orders/a.csv", 2, "retired", 0, 0),
    ]
    assert drop.load().gone == []  # retired, not "gone, rows kept"

    a.write_bytes(content)  # the same content as version 1: loads again
    report = drop.load()
    assert [(o.file, o.version) for o in report.loaded] == [("crm/orders/a.csv", 3)]
    assert drop.ids() == ["o1", "o3"]


def test_a_crash_while_publishing_leaves_nothing_of_the_file(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1"))
    drop.load()
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1", revenue="-1") + order("o2"))
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o3"))
    before = drop.tables()

    def crash(conn, entry):  # after the rows and the quarantine went in, before the commit
        raise RuntimeError("power cut")

    monkeypatch.setattr(manifest, "record", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        drop.load()
    assert drop.tables() == before


def test_a_crash_while_reading_leaves_nothing_and_no_staging(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1"))
    drop.load()
    drop.write("crm/orders/b.csv", ORDERS_HEADER + "".join(order(f"n{i}") for i in range(50)))
    before = drop.tables()
    staged: list[int] = []
    small_blocks = table_drop(ORDERS_TABLE, block_bytes=256)

    def crash(path: Path, file: str):
        chunks = small_blocks.parse(path, file)
        yield next(chunks)
        yield next(chunks)
        staged.append(1)
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        drop.load(dataclasses.replace(ORDERS, parse=crash))
    assert staged  # two chunks were staged and committed before the crash
    assert drop.tables() == before  # no rows, no manifest entry, no staging table
    assert drop.load().loaded[0].rows == 50  # and the next run loads the file whole


def test_staging_left_by_a_killed_process_does_not_block_the_next_load(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1"))
    with connect(drop.database) as conn:
        conn.execute("create schema raw")
        conn.execute("create table raw.crm_orders__incoming (junk integer)")
        conn.execute("insert into raw.crm_orders__incoming values (1)")
    drop.load()

    assert drop.ids() == ["o1"]
    assert "crm_orders__incoming" not in drop.tables()


def test_a_later_file_with_new_columns_adds_them(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1"))
    drop.write("crm/orders/b.csv", "order_id,contact_id,ordered_at,revenue,Coupon\n")
    drop.load()
    drop.write(
        "crm/orders/c.csv",
        "order_id,contact_id,ordered_at,revenue,coupon,gift wrap\n"
        "o2,c1,2026-03-01T10:00:00Z,5,SPRING,yes\n",
    )
    drop.load()

    rows = drop.query('select order_id, coupon, "gift wrap" from raw.crm_orders order by order_id')
    assert rows == [("o1", None, None), ("o2", "SPRING", "yes")]


def test_the_file_loaded_last_wins_and_within_a_file_the_later_line(drop: Drop) -> None:
    twice = order("o1", revenue="1") + order("o1", revenue="2")
    drop.write("crm/orders/a.csv", ORDERS_HEADER + twice)
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o2", revenue="20"))
    drop.load()
    after_first_run = drop.query(STAGED_ORDERS)
    drop.write("crm/orders/a.csv", ORDERS_HEADER + twice + order("o2", revenue="10"))
    drop.load()  # a.csv's new version is now the file loaded last
    after_second_run = drop.query(STAGED_ORDERS)
    drop.write("crm/orders/0.csv", ORDERS_HEADER + order("o1", revenue="30"))
    drop.load()  # first by name, last by load

    assert after_first_run == [("o1", 2.0), ("o2", 20.0)]
    assert after_second_run == [("o1", 2.0), ("o2", 10.0)]
    assert drop.query(STAGED_ORDERS) == [("o1", 30.0), ("o2", 10.0)]
    assert drop.query("select count(*) from raw.crm_orders") == [(5,)]  # raw keeps them all
    stamps = drop.query("select loaded_at from raw.file_manifest")
    assert len(set(stamps)) == len(stamps) == 4  # each file load has its own _loaded_at


def test_loads_are_stamped_in_order_even_when_the_clock_steps_back(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1", "1"))
    drop.write("crm/orders/b.csv", ORDERS_HEADER + order("o1", "2"))
    with connect(drop.database) as conn:
        load_new_files(conn, ORDERS, drop.landing, clock=lambda: datetime(2030, 1, 1))

    assert drop.query(STAGED_ORDERS) == [("o1", 2.0)]  # b.csv was loaded after a.csv


def test_a_file_written_while_being_read_is_left_for_the_next_run(drop: Drop) -> None:
    path = drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1"))

    def still_writing(path: Path, file: str):
        yield from ORDERS.parse(path, file)
        with path.open("a") as out:
            out.write(order("o2"))

    report = drop.load(dataclasses.replace(ORDERS, parse=still_writing))
    assert report.changed_while_loading == ["crm/orders/a.csv"] and report.outcomes == []
    assert drop.ids() == [] and drop.manifest() == []
    assert path.exists()
    drop.load()
    assert drop.ids() == ["o1", "o2"]


def test_rows_loaded_before_the_manifest_existed_are_replaced_not_doubled(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1"))
    legacy = load_table(ORDERS_TABLE, drop.landing, datetime(2026, 1, 1))
    with connect(drop.database) as conn:  # what the loader before the manifest wrote
        conn.execute("create schema raw")
        conn.register("legacy", legacy.rows)
        conn.execute("create table raw.crm_orders as select * from legacy")
    drop.load()

    assert drop.ids() == ["o1"]


def test_small_blocks_give_the_same_rows_as_one_block(tmp_path: Path) -> None:
    content = ORDERS_HEADER + "".join(
        order(f"o{i}", revenue="-1" if i % 7 == 0 else str(i)) for i in range(200)
    )
    content += 'o200,c1,2026-03-01T10:00:00Z,5,"1\n"\no201,c1,2026-03-01T10:00:00Z,5,1\n'
    results = []
    for name, source in [("one", ORDERS), ("many", table_drop(ORDERS_TABLE, block_bytes=97))]:
        drop = Drop(tmp_path / name)
        drop.write("crm/orders/a.csv", content)
        drop.load(source)
        results.append(
            (
                drop.query("select order_id, revenue, items, _line from raw.crm_orders order by 4"),
                drop.quarantine(),
            )
        )
    assert results[0] == results[1]
    # The record on lines 202–203 holds a quoted newline; the next record is on line 204.
    assert results[0][0][-2:] == [("o200", 5.0, 1, 202), ("o201", 5.0, 1, 204)]
    assert len(results[0][1]) == 29


def test_conversations_load_into_both_tables_once_and_versions_replace_both(drop: Drop) -> None:
    drop.write("conversations/day.jsonl", conversation("k1") + "\n" + conversation("k2") + "\n")
    drop.load(CONVERSATIONS)
    drop.write("conversations/day.jsonl", conversation("k1", text="call +44 20 7946 0958") + "\n")
    report = drop.load(CONVERSATIONS)

    assert [(o.version, o.rows) for o in report.loaded] == [(2, 1)]
    assert drop.ids("raw.conversations", "conversation_id") == ["k1"]
    assert drop.query("select text from raw.conversation_messages order by message_index") == [
        ("call [phone]",),
        ("Happy to help.",),
    ]


def test_memory_cap_applies_inside_the_block_only(drop: Drop) -> None:
    with connect(drop.database) as conn:
        (before,) = conn.execute("select current_setting('memory_limit')").fetchone()
        with memory_limit(conn, "64MB"):
            (inside,) = conn.execute("select current_setting('memory_limit')").fetchone()
        (after,) = conn.execute("select current_setting('memory_limit')").fetchone()
    assert inside in {"61.0 MiB", "64.0 MiB", "61.0 MB", "64.0 MB"}
    assert after == before


def test_the_asset_reports_what_each_run_did(drop: Drop) -> None:
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1") + order("o2", revenue="-1"))
    drop.write("crm/orders/bad.csv", "order_id;contact_id;revenue\n")
    asset = file_table_asset(ORDERS_TABLE, [])
    resources = drop.resources()

    def metadata() -> dict:
        result = dg.materialize([asset], resources=resources)
        [event] = result.get_asset_materialization_events()
        return {k: v.value for k, v in event.materialization.metadata.items()}

    first = metadata()
    drop.write("crm/orders/a.csv", ORDERS_HEADER + order("o1") + order("o3"))
    (drop.landing / "crm/orders/bad.csv").unlink()
    second = metadata()
    _mirror(drop, "crm/orders", "a.csv")
    (drop.landing / "crm/orders/a.csv").unlink()
    third = metadata()

    assert {k: first[k] for k in ("files_loaded", "files_rejected", "rows_loaded")} == {
        "files_loaded": 1,
        "files_rejected": 1,
        "rows_loaded": 1,
    }
    assert first["rows_quarantined"] == 1 and first["dagster/row_count"] == 1
    assert "semicolon-separated" in first["rejections"]
    assert second["files_new_versions"] == 1 and second["dagster/row_count"] == 2
    assert second["files_loaded"] == 1 and second["files_rejected"] == 0
    assert "crm/orders/bad.csv" in second["files_gone_rows_kept"]
    assert first["files_retired"] == second["files_retired"] == 0
    assert third["files_retired"] == 1 and "crm/orders/a.csv" in third["files_gone_retired"]
    assert third["dagster/row_count"] == 0
    assert "crm/orders/bad.csv" in third["files_gone_rows_kept"]


def test_no_conversation_text_reaches_the_run_log_or_metadata_unredacted(drop: Drop) -> None:
    email, phone = "ann.lee@example.com", "+44 20 7946 0958"
    robot = conversation("k2", messages=[{"role": "robot", "text": email, "sent_at": "x"}])
    lines = [
        conversation("k1", text=f"{email} {phone}", contact={"email": "bob@example.com"}),
        robot,
        conversation("k3", csat=phone),
        conversation("k4", text=email)[:-30],
    ]
    drop.write("conversations/day.jsonl", "\n".join(lines) + "\n")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [conversations_asset([])], resources=drop.resources(), instance=instance
    )

    logged = repr(instance.all_logs(result.run_id))
    assert "rows_quarantined" in logged and "[email] [phone]" in logged  # the preview is there
    assert "ann.lee" not in logged and "7946" not in logged and "bob@" not in logged
    assert len(drop.quarantine("conversations")) == 3
