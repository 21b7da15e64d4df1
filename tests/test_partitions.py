"""Daily partitions of the Google sources: restatement, single-run ranges, per-day rewrites."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from flywheel_pipeline.operations.automation import daily_schedule
from flywheel_pipeline.sources.ga4.assets import build_ga4_assets
from flywheel_pipeline.sources.ga4.resource import Ga4Resource
from flywheel_pipeline.sources.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    daily_partitions,
    pending_range,
    range_tags,
    restatement_range,
)
from flywheel_pipeline.sources.report_file import load_reports
from flywheel_pipeline.warehouse import WarehouseResource, connect, replace_slice_streaming

SITE = next(r for r in load_reports().ga4 if r.table == "ga4_site_daily")
PARTITIONS = daily_partitions(date(2026, 9, 1), date(2026, 9, 30))


def test_partitions_run_from_the_start_through_the_last_day() -> None:
    keys = PARTITIONS.get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2026-09-01", "2026-09-30", 30)
    open_ended = daily_partitions(date(2026, 11, 1))
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert open_ended.get_partition_keys(current_time=now)[-1] == "2026-11-22"  # yesterday


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 23, 6, 0, tzinfo=UTC), ("2026-11-20", "2026-11-22")),
        (datetime(2026, 11, 3, 6, 0, tzinfo=UTC), ("2026-11-01", "2026-11-02")),
        (datetime(2026, 11, 1, 6, 0, tzinfo=UTC), None),
    ],
)
def test_the_daily_run_restates_the_trailing_three_days(now, expected) -> None:
    assert restatement_range(daily_partitions(date(2026, 11, 1)), now) == expected


def test_the_daily_schedule_asks_for_one_run_over_the_restated_days() -> None:
    schedule = daily_schedule(daily_partitions(date(2026, 11, 1)))
    tick = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    request = schedule(dg.build_schedule_context(scheduled_execution_time=tick))
    assert isinstance(request, dg.RunRequest)
    assert request.tags[RANGE_START_TAG] == "2026-11-20"
    assert request.tags[RANGE_END_TAG] == "2026-11-22"
    assert request.run_key == "daily-2026-11-22"  # a re-evaluated tick never runs twice


def _snapshot(folder: Path, sessions: int) -> None:
    days = pd.date_range("2026-09-01", "2026-09-30", freq="D")
    frame = pd.DataFrame({"date": days, "sessions": sessions, "new_users": 1, "total_users": 2})
    frame.to_parquet(folder / "ga4_site_daily.parquet")


def _extract(warehouse: Path, snapshots: Path, first: str, last: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        build_ga4_assets([SITE], PARTITIONS),
        resources={
            "warehouse": WarehouseResource(path=str(warehouse)),
            "ga4": Ga4Resource(mode="demo", demo_snapshot_dir=str(snapshots)),
        },
        tags=range_tags(first, last),
    )


def _sessions_by_day(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        rows = conn.execute("select date, sessions from raw.ga4_site_daily order by 1").fetchall()
    return {day.isoformat(): sessions for day, sessions in rows}


def test_a_rerun_replaces_only_its_own_days(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    _snapshot(tmp_path, sessions=10)
    result = _extract(warehouse, tmp_path, "2026-09-01", "2026-09-30")
    assert len(result.get_asset_materialization_events()) == 30  # one run, 30 partitions
    _snapshot(tmp_path, sessions=99)  # GA4 restated its numbers upstream

    _extract(warehouse, tmp_path, "2026-09-28", "2026-09-30")
    _extract(warehouse, tmp_path, "2026-09-28", "2026-09-30")  # a retry changes nothing

    by_day = _sessions_by_day(warehouse)
    assert len(by_day) == 30  # nothing duplicated, nothing lost
    assert {d: s for d, s in by_day.items() if s == 99} == {
        "2026-09-28": 99,
        "2026-09-29": 99,
        "2026-09-30": 99,
    }


def test_one_day_picked_in_the_ui_runs_alone(tmp_path: Path) -> None:
    """A single partition is tagged `dagster/partition`, not as a range."""
    _snapshot(tmp_path, sessions=10)
    result = dg.materialize(
        build_ga4_assets([SITE], PARTITIONS),
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "ga4": Ga4Resource(mode="demo", demo_snapshot_dir=str(tmp_path)),
        },
        partition_key="2026-09-15",
    )
    assert result.success
    assert _sessions_by_day(tmp_path / "w.duckdb") == {"2026-09-15": 10}


def test_a_slice_write_that_fails_changes_nothing(tmp_path: Path) -> None:
    day = date(2026, 9, 2)
    before = pd.DataFrame({"date": [date(2026, 9, 1), day], "value": [1, 2]})
    with connect(tmp_path / "w.duckdb") as conn:
        replace_slice_streaming(
            conn, "raw.t", [before], where="date between ? and ?", params=[date(2026, 9, 1), day]
        )

        def failing():
            yield pd.DataFrame({"date": [day], "value": [3]})
            raise RuntimeError("page 2 failed")

        with pytest.raises(RuntimeError, match="page 2"):
            replace_slice_streaming(
                conn, "raw.t", failing(), where="date between ? and ?", params=[day, day]
            )
        after = conn.execute("select date, value from raw.t order by 1").fetchall()
        tables = conn.execute("select table_name from duckdb_tables() order by 1").fetchall()
    assert after == [(date(2026, 9, 1), 1), (day, 2)]
    assert tables == [("t",)]  # no staging table left behind


def test_running_without_a_day_says_how_to_pick_one(tmp_path: Path) -> None:
    result = dg.materialize(
        build_ga4_assets([SITE], PARTITIONS),
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "ga4": Ga4Resource(mode="demo", demo_snapshot_dir=str(tmp_path)),
        },
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    assert "partitioned by day" in message and RANGE_START_TAG in message


def test_a_catching_up_run_extracts_from_the_first_missing_day_or_restates() -> None:
    keys = PARTITIONS.get_partition_keys()
    assert pending_range(keys, [set(), set()]) == ("2026-09-01", "2026-09-30")
    everything = set(keys)
    # one source behind the other: from the first day the slower one lacks
    assert pending_range(keys, [everything, set(keys[:20])]) == ("2026-09-21", "2026-09-30")
    # a hole in the middle counts too
    assert pending_range(keys, [everything - {"2026-09-05"}]) == ("2026-09-05", "2026-09-30")
    assert pending_range(keys, [everything, everything]) == ("2026-09-28", "2026-09-30")
    assert pending_range([], [set()]) is None
