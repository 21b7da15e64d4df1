"""Asset checks on the raw assets: row-count anomalies (blocking), quarantine rate, freshness.

Each check runs as Dagster runs it: materialised with its asset by `dg.materialize` on a
temporary DuckDB file, with the run's partitions as tags.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import dagster as dg
import pandas as pd

from flywheel_pipeline.settings import load_settings
from flywheel_pipeline.sources import checks
from flywheel_pipeline.sources.checks import (
    QUARANTINE_WARN_RATE,
    judge_days,
    quarantine_check,
    row_count_check,
)
from flywheel_pipeline.sources.demo import DemoConfig, simulate
from flywheel_pipeline.sources.files.assets import conversations_asset, file_table_asset
from flywheel_pipeline.sources.files.automation import drop_keys
from flywheel_pipeline.sources.files.drops import FILE_DROPS
from flywheel_pipeline.sources.ga4.assets import build_ga4_assets
from flywheel_pipeline.sources.ga4.resource import Ga4Resource
from flywheel_pipeline.sources.partitions import daily_partitions, range_tags
from flywheel_pipeline.sources.report_file import load_reports
from flywheel_pipeline.sources.search_console.assets import build_search_console_assets
from flywheel_pipeline.sources.search_console.resource import SearchConsoleResource
from flywheel_pipeline.warehouse import WarehouseResource, connect
from tests.drops_support import CONVERSATIONS, ORDERS, ORDERS_HEADER, ORDERS_TABLE, Drop, order

REPORTS = load_reports()
PAGES_REPORT = next(r for r in REPORTS.ga4 if r.table == "ga4_pages")
PAGES = dg.AssetKey(["raw", "ga4_pages"])
ORDERS_KEY = dg.AssetKey(["raw", "crm_orders"])
CONVERSATIONS_KEY = dg.AssetKey(["raw", "conversations"])
FIRST, LAST = dt.date(2026, 1, 1), dt.date(2026, 3, 31)
HALF_EMPTY = dt.date(2026, 3, 30)
USUAL_ROWS = 50


# Row counts --------------------------------------------------------------------------------


def _pages_snapshot(folder: Path) -> None:
    """What the demo GA4 client serves: 50 pages a day, 20 on HALF_EMPTY."""
    rows = [
        {
            "date": pd.Timestamp(day),
            "page_path": f"/page/{i}",
            "page_title": "A page",
            "screen_page_views": 3,
            "sessions": 2,
            "engaged_sessions": 1,
            "key_events": 0.0,
        }
        for day in pd.date_range(FIRST, LAST).date
        for i in range(20 if day == HALF_EMPTY else USUAL_ROWS)
    ]
    pd.DataFrame(rows).to_parquet(folder / "ga4_pages.parquet")


@dg.asset(deps=[PAGES])
def traffic_mart() -> None:
    """Stands in for the dbt models built on the raw table."""


def _run_pages(tmp_path: Path, **run: object) -> dg.ExecuteInProcessResult:
    [pages] = build_ga4_assets([PAGES_REPORT], daily_partitions(FIRST, LAST))
    return dg.materialize(
        [pages, row_count_check(PAGES), traffic_mart],
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "ga4": Ga4Resource(mode="demo", demo_snapshot_dir=str(tmp_path)),
        },
        raise_on_error=False,
        **run,
    )


def _evaluation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def _built(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_normal_days_pass_and_the_mart_builds(tmp_path: Path) -> None:
    _pages_snapshot(tmp_path)
    result = _run_pages(tmp_path, tags=range_tags("2026-01-01", "2026-03-28"))

    evaluation = _evaluation(result)
    assert result.success and evaluation.passed
    assert _built(result) == {"raw/ga4_pages", "traffic_mart"}
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    # The first weeks lack history: judged from the third same weekday on.
    assert metadata["days_judged"] == 87 - 14
    assert metadata["lowest_day_rows"] == USUAL_ROWS and metadata["lowest_day_ratio"] == 1.0


def test_a_half_empty_day_fails_and_holds_back_what_is_downstream(tmp_path: Path) -> None:
    _pages_snapshot(tmp_path)
    assert _run_pages(tmp_path, tags=range_tags("2026-01-01", "2026-03-28")).success

    # The daily run's range: the check sees exactly the days it wrote.
    result = _run_pages(tmp_path, tags=range_tags("2026-03-29", "2026-03-31"))

    evaluation = _evaluation(result)
    assert not result.success and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert _built(result) == {"raw/ga4_pages"}  # the mart did not build on half a day
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["days"] == "2026-03-29 .. 2026-03-31" and metadata["days_judged"] == 3
    assert metadata["lowest_day"] == "2026-03-30"
    assert (metadata["lowest_day_rows"], metadata["lowest_day_median"]) == (20, USUAL_ROWS)
    assert "| 2026-03-30 | 20 | 50 | 40% |" in metadata["low_days"]
    assert "2026-03-30" in (evaluation.description or "")

    # One day picked in the UI: the half-empty day is not in this run.
    single = _run_pages(tmp_path, partition_key="2026-03-31")
    assert single.success and _evaluation(single).passed
    assert _built(single) == {"raw/ga4_pages", "traffic_mart"}


def _days(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(count)]


def test_the_baseline_is_the_same_weekday_so_quiet_weekends_pass() -> None:
    history = _days(dt.date(2026, 5, 4), 35)  # Monday 4 May .. Sunday 7 June
    rows = {day: 30 if day.weekday() >= 5 else 100 for day in history}
    verdicts = judge_days(rows, {}, history[-7], history[-1], today=dt.date(2026, 7, 1))
    assert [v.verdict for v in verdicts] == ["ok"] * 7
    assert [v.median for v in verdicts] == [100] * 5 + [30] * 2


def test_days_not_judged_and_why() -> None:
    history = _days(dt.date(2026, 5, 4), 35)
    rows = dict.fromkeys(history, 100)
    run = history[-5:]  # 3 .. 7 June
    rows[run[0]] = 10  # would fail, but Search Console says it is still incomplete
    del rows[run[1]]  # nothing extracted for a day of the run: 0 rows, flagged incomplete too
    incomplete = dict.fromkeys(run, run[0])
    verdicts = judge_days(rows, incomplete, run[0], run[-1], today=dt.date(2026, 7, 1))
    assert [v.verdict for v in verdicts] == ["incomplete"] * 5

    # GA4 (no incomplete flag): the same empty day fails, unless it is still settling.
    verdicts = judge_days(rows, {}, run[0], run[-1], today=run[-1] + dt.timedelta(days=1))
    assert [(v.verdict, v.rows) for v in verdicts] == [
        ("low", 10),
        ("low", 0),
        ("ok", 100),
        ("settling", 100),
        ("settling", 100),
    ]

    # Too few rows a day to tell a half day from noise.
    small = {day: 3 for day in history}
    verdicts = judge_days(small, {}, run[0], run[-1], today=dt.date(2026, 7, 1))
    assert {v.verdict for v in verdicts} == {"too few rows to judge"}


def test_the_demo_business_passes(tmp_path: Path) -> None:
    """Every Google table of a real demo history (the scale the suite's demo runs use)."""
    config = DemoConfig(seed=42, scale=0.15, days=120)
    business = simulate(config)
    (tmp_path / "ga4").mkdir()
    (tmp_path / "gsc").mkdir()
    for name, frame in business.ga4.items():
        frame.to_parquet(tmp_path / "ga4" / f"ga4_{name}.parquet")
    business.gsc.to_parquet(tmp_path / "gsc" / "gsc_search_analytics.parquet")
    partitions = daily_partitions(config.start_date, config.end_date)
    assets = [
        *build_ga4_assets(REPORTS.ga4, partitions),
        *build_search_console_assets(REPORTS.search_console, partitions),
    ]
    keys = [key for asset in assets for key in asset.keys]

    result = dg.materialize(
        [*assets, *(row_count_check(key) for key in keys)],
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "ga4": Ga4Resource(mode="demo", demo_snapshot_dir=str(tmp_path / "ga4")),
            "search_console": SearchConsoleResource(
                mode="demo", demo_snapshot_dir=str(tmp_path / "gsc")
            ),
        },
        tags=range_tags(config.start_date.isoformat(), config.end_date.isoformat()),
    )

    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(keys) and all(e.passed for e in evaluations)
    judged = {e.asset_key.path[-1]: e.metadata for e in evaluations if "lowest_day" in e.metadata}
    # The busy tables are judged on every day with two weeks of history; none came near the
    # threshold (site totals and events have too few rows a day to be judged).
    assert judged.keys() == {"ga4_traffic_acquisition", "ga4_pages", "gsc_search_analytics"}
    assert all(m["days_judged"].value == 120 - 14 for m in judged.values())
    assert all(m["lowest_day_ratio"].value > 0.8 for m in judged.values())


# Quarantine --------------------------------------------------------------------------------


def _orders(name: str, good: int, bad: int) -> str:
    lines = [order(f"{name}-{i}") for i in range(good)]
    lines += [order(f"{name}-bad-{i}", ordered_at="last tuesday") for i in range(bad)]
    return ORDERS_HEADER + "".join(lines)


def _load_orders(drop: Drop, instance: dg.DagsterInstance) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [file_table_asset(ORDERS_TABLE, []), quarantine_check(ORDERS)],
        resources=drop.resources(),
        instance=instance,
    )
    assert result.success  # the check warns; it never fails the run
    return _evaluation(result)


def test_quarantine_warns_above_the_rate_and_names_the_files(tmp_path: Path) -> None:
    drop, instance = Drop(tmp_path), dg.DagsterInstance.ephemeral()
    assert QUARANTINE_WARN_RATE == 0.01
    drop.write("crm/orders/monday.csv", _orders("mon", good=99, bad=1))  # exactly 1 %
    at_the_rate = _load_orders(drop, instance)
    assert at_the_rate.passed
    assert at_the_rate.metadata["quarantine_rate"].value == 0.01

    drop.write("crm/orders/tuesday.csv", _orders("tue", good=97, bad=3))
    drop.write("crm/orders/wednesday.csv", _orders("wed", good=199, bad=1))
    above = _load_orders(drop, instance)
    metadata = {k: v.value for k, v in above.metadata.items()}
    assert not above.passed and above.severity == dg.AssetCheckSeverity.WARN
    # Only this run's files: monday.csv was judged by the run that loaded it.
    assert (metadata["files_loaded"], metadata["rows_loaded"]) == (2, 296)
    assert metadata["rows_quarantined"] == 4 and metadata["quarantine_rate"] == 0.01333
    worst = metadata["worst_files"].splitlines()
    assert "crm/orders/tuesday.csv | 97 | 3 | 3.0%" in worst[2]
    assert "crm/orders/wednesday.csv" in worst[3] and "monday" not in metadata["worst_files"]
    assert "| ordered_at: unparseable or timezone-less timestamp | 4 |" in metadata["reasons"]
    assert "last tuesday" not in repr(metadata)  # a reason, never a record
    assert "tuesday.csv" in (above.description or "")

    nothing_new = _load_orders(drop, instance)
    assert nothing_new.passed and nothing_new.description == "the latest load brought no new file"


def test_a_rejected_file_warns_too(tmp_path: Path) -> None:
    drop = Drop(tmp_path)
    drop.write("crm/orders/good.csv", _orders("a", good=10, bad=0))
    drop.write("crm/orders/no_revenue.csv", "order_id,contact_id,ordered_at\n")
    evaluation = _load_orders(drop, dg.DagsterInstance.ephemeral())
    assert not evaluation.passed
    assert evaluation.metadata["files_rejected"].value == 1
    assert "crm/orders/no_revenue.csv" in evaluation.metadata["rejected_files"].value


def test_quarantine_reasons_never_show_a_value(tmp_path: Path) -> None:
    drop = Drop(tmp_path)
    line = (
        '{"conversation_id": "c1", "started_at": "2026-03-01T10:00:00Z", "channel": "chat", '
        '"contact": {}, "messages": [{"role": "Ann Lee", "text": "hi", "sent_at": '
        '"2026-03-01T10:00:00Z"}]}'
    )
    drop.write("conversations/day.jsonl", line + "\n")
    result = dg.materialize(
        [conversations_asset([]), quarantine_check(CONVERSATIONS)],
        resources=drop.resources(),
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.asset_key == CONVERSATIONS_KEY and not evaluation.passed
    reasons = evaluation.metadata["reasons"].value
    assert "| messages[0].role: unknown role … | 1 |" in reasons
    assert "Ann Lee" not in repr(evaluation.metadata)


# Freshness and wiring ----------------------------------------------------------------------


def _check_keys(defs: dg.Definitions) -> set[tuple[str, str]]:
    return {
        (key.asset_key.to_user_string(), key.name)
        for checks_def in defs.asset_checks or []
        for key in checks_def.check_keys
    }


def _raw_keys() -> list[dg.AssetKey]:
    google = [dg.AssetKey(["raw", r.table]) for r in (*REPORTS.ga4, *REPORTS.search_console)]
    files = [key for drop in FILE_DROPS for key in drop_keys(drop)]
    return [*google, *files]


def test_demo_mode_has_no_freshness_checks(tmp_path: Path) -> None:
    defs = checks.build_defs(
        load_settings(flywheel_home=tmp_path, flywheel_source="demo"), _raw_keys()
    )
    keys = _check_keys(defs)
    assert {name for _, name in keys} == {"row_count_anomaly", "quarantine_rate"}
    assert ("raw/gsc_search_analytics", "row_count_anomaly") in keys
    assert ("raw/conversations", "quarantine_rate") in keys
    assert ("raw/conversation_messages", "quarantine_rate") not in keys
    assert not defs.sensors


def test_live_mode_checks_the_configured_sources_freshness(tmp_path: Path) -> None:
    settings = load_settings(
        flywheel_home=tmp_path, flywheel_source="live", ga4_property_id="123456789"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # building them stays quiet
        defs = checks.build_defs(settings, _raw_keys())
    keys = _check_keys(defs)
    fresh = {asset for asset, name in keys if name == "freshness_check"}
    ga4 = {f"raw/{r.table}" for r in REPORTS.ga4}
    assert fresh == ga4 | {
        "raw/conversations",
        *(f"raw/{t}" for t in ("crm_contacts", "crm_deals", "crm_deal_stage_history")),
        *(f"raw/{t}" for t in ("crm_orders", "crm_nps_responses", "crm_referrals")),
        "raw/crm_ad_spend",
    }  # not the decisions operators write, nor the unconfigured Search Console
    assert ("raw/gsc_search_analytics", "row_count_anomaly") not in keys
    assert {asset for asset, name in keys if name == "row_count_anomaly"} == ga4
    [sensor] = defs.sensors
    assert sensor.name == "freshness_checks"


def test_file_freshness_follows_new_files_not_runs(tmp_path: Path) -> None:
    drop, instance = Drop(tmp_path), dg.DagsterInstance.ephemeral()
    [freshness] = checks.freshness_checks([], [ORDERS])
    assets = [file_table_asset(ORDERS_TABLE, []), freshness]

    def run() -> dg.AssetCheckEvaluation:
        result = dg.materialize(assets, resources=drop.resources(), instance=instance)
        return _evaluation(result)

    drop.write("crm/orders/a.csv", _orders("a", good=2, bad=0))
    assert run().passed
    # The export stopped ten days ago: a run that loads nothing does not make the data fresh.
    with connect(drop.database) as conn:
        conn.execute("update raw.file_manifest set loaded_at = loaded_at - interval 10 days")
    stale = run()
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    drop.write("crm/orders/b.csv", _orders("b", good=2, bad=0))
    assert run().passed
