"""GA4 extraction through Google's client against a local fake of the Data API (no network).

The fake (`tests/fakes/ga4_server.py`) holds a deterministic dataset per property and injects
faults; every test reconciles what the client extracted with what the server holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from flywheel_pipeline.metadata import utc_now
from flywheel_pipeline.sources.ga4.assets import build_ga4_assets
from flywheel_pipeline.sources.ga4.extract import DemoGa4Client, ReportPage, to_raw_rows
from flywheel_pipeline.sources.ga4.live import (
    Ga4Error,
    Ga4QuotaExhausted,
    LiveGa4Client,
    spent_quota,
)
from flywheel_pipeline.sources.ga4.reports import Ga4Report
from flywheel_pipeline.sources.ga4.resource import Ga4Resource
from flywheel_pipeline.sources.google.retry import RetryPolicy
from flywheel_pipeline.sources.google.snapshot import write_snapshot
from flywheel_pipeline.sources.google.stats import ExtractionStats
from flywheel_pipeline.sources.partitions import daily_partitions, range_tags
from flywheel_pipeline.sources.report_file import load_reports
from flywheel_pipeline.sources.source_health import EXTRACTION_FAILED, extraction_check
from flywheel_pipeline.warehouse import WarehouseResource
from tests.fakes.ga4_server import FakeGa4Server
from tests.support import key_secrets, service_account_file

PROPERTY = "123456789"
DEFAULT_REPORTS = load_reports().ga4
TRAFFIC = DEFAULT_REPORTS[0]
SITE = next(r for r in DEFAULT_REPORTS if r.table == "ga4_site_daily")
START, END = date(2025, 3, 1), date(2025, 3, 30)
FAST_RETRY = RetryPolicy(initial=0.005, maximum=0.02, deadline=5.0)


@pytest.fixture
def ga4_server() -> Iterator[FakeGa4Server]:
    with FakeGa4Server(max_requests=2000, lifetime_seconds=60) as server:
        server.add_property(PROPERTY, rows_per_day=40, seed=7)
        yield server


def make_client(server: FakeGa4Server, **overrides: object) -> LiveGa4Client:
    options: dict[str, object] = {
        "api_endpoint": server.url,
        "page_size": 100,
        "request_timeout": 2.0,
        "retry": FAST_RETRY,
    }
    options.update(overrides)
    return LiveGa4Client(PROPERTY, **options)  # type: ignore[arg-type]


def extract(
    client: LiveGa4Client, report: Ga4Report = TRAFFIC, start: date = START, end: date = END
) -> tuple[list[ReportPage], ExtractionStats]:
    stats = ExtractionStats()
    return list(client.pages(report, start, end, stats)), stats


def as_rows(pages: list[ReportPage]) -> list[tuple[str, ...]]:
    return [tuple(row) for page in pages for row in page.rows.itertuples(index=False)]


def held(server: FakeGa4Server, report: Ga4Report = TRAFFIC) -> list[tuple[str, ...]]:
    rows = server.expected_rows(PROPERTY, report.dimensions, report.metrics, START, END)
    return [tuple(row) for row in rows]


# Paging and reconciliation -----------------------------------------------------------------
def test_rows_reconcile_exactly_under_a_20_percent_fault_rate(ga4_server: FakeGa4Server) -> None:
    ga4_server.set_faults(rate=0.2, statuses=(429, 500, 503), seed=3)
    pages, stats = extract(make_client(ga4_server))

    extracted, expected = as_rows(pages), held(ga4_server)
    assert len(expected) == 30 * 40
    assert len(extracted) == len(set(extracted)), "duplicated rows"
    assert sorted(extracted) == sorted(expected), "rows lost or changed"

    failed = [r for r in ga4_server.requests if r.status != 200]
    assert failed and {r.status for r in failed} <= {429, 500, 503}
    assert stats.retries == len(failed) == stats.requests - stats.pages
    assert stats.pages == len(ga4_server.successful_requests()) == math.ceil(1200 / 100)
    assert stats.rows == 1200
    assert [p.page for p in pages] == list(range(12))
    assert len({p.request_id for p in pages}) == 12


def test_slow_answers_time_out_and_are_retried(ga4_server: FakeGa4Server) -> None:
    ga4_server.set_faults(slow_rate=0.5, slow_seconds=0.5, seed=5)
    client = make_client(ga4_server, page_size=300, request_timeout=0.2)
    pages, stats = extract(client)

    assert sorted(as_rows(pages)) == sorted(held(ga4_server))
    slow = [r for r in ga4_server.requests if r.fault == "slow"]
    assert slow and stats.retries == len(slow)
    assert stats.pages == 4


@pytest.mark.parametrize(
    ("page_size", "rows_per_day", "pages"),
    [(100, 40, 12), (1000, 40, 2), (1200, 40, 1), (250_000, 40, 1), (7, 40, 172), (100, 0, 1)],
)
def test_the_fewest_requests_possible(
    ga4_server: FakeGa4Server, page_size: int, rows_per_day: int, pages: int
) -> None:
    ga4_server.add_property(PROPERTY, rows_per_day=rows_per_day, seed=7)
    extracted, stats = extract(make_client(ga4_server, page_size=page_size))

    total = 30 * rows_per_day
    assert pages == max(1, math.ceil(total / page_size))
    assert stats.requests == stats.pages == len(ga4_server.requests) == pages
    assert len(as_rows(extracted)) == total
    first = ga4_server.requests[0]
    # As Google's client sends it: limit as a string, no offset on the first page.
    assert first.body["limit"] == str(min(page_size, 250_000)) and "offset" not in first.body
    assert [r.offset for r in ga4_server.requests] == [i * page_size for i in range(pages)]
    assert first.body["dateRanges"] == [{"startDate": "2025-03-01", "endDate": "2025-03-30"}]


def test_page_size_is_capped_at_the_api_limit(ga4_server: FakeGa4Server) -> None:
    assert make_client(ga4_server, page_size=1_000_000).page_size == 250_000


def test_rerunning_the_same_range_gives_identical_rows(ga4_server: FakeGa4Server) -> None:
    ga4_server.set_faults(rate=0.2, seed=11)
    client = make_client(ga4_server)
    data_columns = [*TRAFFIC.columns, "is_sampled", "subject_to_thresholding", "has_other_row"]
    first = to_raw_rows(TRAFFIC, iter(extract(client)[0]), utc_now())[data_columns]
    ga4_server.set_faults(rate=0.2, seed=12)  # different faults, same data
    second = to_raw_rows(TRAFFIC, iter(extract(client)[0]), utc_now())[data_columns]
    pd.testing.assert_frame_equal(first, second)
    assert len(first) == 1200


def test_date_range_is_sent_and_respected(ga4_server: FakeGa4Server) -> None:
    pages, _ = extract(make_client(ga4_server), SITE, date(2025, 3, 5), date(2025, 3, 7))
    frame = to_raw_rows(SITE, iter(pages), utc_now())
    assert sorted(frame["date"]) == [date(2025, 3, 5), date(2025, 3, 6), date(2025, 3, 7)]
    with pytest.raises(ValueError, match="empty"):
        list(make_client(ga4_server).pages(SITE, date(2025, 3, 7), date(2025, 3, 5)))


# Quotas and failures ----------------------------------------------------------------------
def test_a_spent_daily_quota_fails_fast_with_a_clear_message(ga4_server: FakeGa4Server) -> None:
    ga4_server.set_faults(quota="day")
    slow_retry = RetryPolicy(initial=5.0, maximum=30.0, deadline=600.0)
    started = time.monotonic()
    with pytest.raises(Ga4QuotaExhausted) as raised:
        extract(make_client(ga4_server, retry=slow_retry))
    assert time.monotonic() - started < 2.0, "it waited for a quota that refills at midnight"
    assert len(ga4_server.requests) == 1
    message = str(raised.value)
    assert "tokens per day" in message and "midnight Pacific time" in message
    assert raised.value.quota == "property tokens per day"


def test_a_spent_hourly_quota_says_to_retry_next_hour(ga4_server: FakeGa4Server) -> None:
    ga4_server.set_faults(quota="hour")
    with pytest.raises(Ga4QuotaExhausted, match=r"tokens per hour.*next hour"):
        extract(make_client(ga4_server))
    assert len(ga4_server.requests) == 1


def test_concurrency_quota_is_retried_then_reported(ga4_server: FakeGa4Server) -> None:
    ga4_server.set_faults(quota="concurrent")
    client = make_client(ga4_server, retry=RetryPolicy(initial=0.01, maximum=0.02, deadline=0.3))
    with pytest.raises(Ga4QuotaExhausted, match="concurrent requests"):
        extract(client)
    assert len(ga4_server.requests) > 1


def test_quota_messages_are_classified() -> None:
    from google.api_core import exceptions

    now = datetime(2025, 3, 10, 20, 30, tzinfo=UTC)  # 13:30 in Los Angeles (PDT)
    day = spent_quota(exceptions.TooManyRequests("Exhausted property tokens per day quota."), now)
    assert day is not None and "2025-03-11 07:00 UTC" in str(day) and "10.5 h" in str(day)
    hour = spent_quota(exceptions.TooManyRequests("Exhausted property tokens per hour quota"), now)
    assert hour is not None and "21:30 UTC" in str(hour)
    assert hour.quota == "property tokens per hour"
    errors = spent_quota(
        exceptions.TooManyRequests("Exhausted server errors per project per hour quota"), now
    )
    assert errors is not None and errors.quota == "server errors per project per hour"
    assert spent_quota(exceptions.TooManyRequests("Resource has been exhausted"), now) is None
    assert spent_quota(exceptions.ServiceUnavailable("per day"), now) is None


def test_a_page_that_keeps_failing_raises_after_the_retry_deadline(
    ga4_server: FakeGa4Server,
) -> None:
    ga4_server.set_faults(fail_from_page=2, fail_status=503)
    client = make_client(ga4_server, retry=RetryPolicy(initial=0.01, maximum=0.02, deadline=0.3))
    stats = ExtractionStats()
    received = []
    with pytest.raises(Ga4Error, match="offset 200 still failing"):
        for page in client.pages(TRAFFIC, START, END, stats):
            received.append(page)
    assert [p.page for p in received] == [0, 1]
    assert stats.pages == 2 and stats.retries == len(ga4_server.requests) - 3


def test_unknown_property_is_not_retried(ga4_server: FakeGa4Server) -> None:
    client = LiveGa4Client("999", api_endpoint=ga4_server.url + "/", retry=FAST_RETRY)
    with pytest.raises(Exception, match="permissions"):
        extract(client)
    assert len(ga4_server.requests) == 1


def test_flags_land_as_columns(ga4_server: FakeGa4Server) -> None:
    ga4_server.add_property(
        PROPERTY, rows_per_day=5, sampled=True, thresholded=True, other_row=True
    )
    pages, stats = extract(make_client(ga4_server))
    frame = to_raw_rows(TRAFFIC, iter(pages), utc_now())
    assert frame["is_sampled"].all() and frame["subject_to_thresholding"].all()
    assert frame["has_other_row"].all()
    assert (frame["session_source"] == "(other)").sum() == 30
    assert stats.flags == {"is_sampled", "subject_to_thresholding", "has_other_row"}

    ga4_server.add_property(PROPERTY, rows_per_day=5)
    pages, stats = extract(make_client(ga4_server))
    frame = to_raw_rows(TRAFFIC, iter(pages), utc_now())
    assert not frame[["is_sampled", "subject_to_thresholding", "has_other_row"]].any().any()
    assert stats.flags == set()


def test_request_lineage_is_sent_and_kept(ga4_server: FakeGa4Server) -> None:
    pages, _ = extract(make_client(ga4_server, page_size=500))
    sent = [r.request_id for r in ga4_server.requests]
    assert sent == [p.request_id for p in pages] and all(sent)
    assert not any(r.authorized for r in ga4_server.requests)  # anonymous over http://


# Demo client keeps working on a window -------------------------------------------------------
def test_demo_client_filters_its_snapshot_to_the_range(tmp_path: Path) -> None:
    days = pd.date_range("2025-01-01", periods=10, freq="D")
    pd.DataFrame({"date": days, "sessions": 1, "new_users": 1, "total_users": 1}).to_parquet(
        tmp_path / "ga4_site_daily.parquet"
    )
    client = DemoGa4Client(tmp_path)
    stats = ExtractionStats()
    pages = list(client.pages(SITE, date(2025, 1, 3), date(2025, 1, 5), stats))
    assert len(pages[0].rows) == 3 and stats.pages == 1 and stats.rows == 3


def _site_snapshot(first: str, last: str, sessions: int) -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D")
    return pd.DataFrame({"date": days, "sessions": sessions, "new_users": 1, "total_users": 1})


def test_the_demo_client_states_the_days_its_snapshot_covers(
    tmp_path: Path, ga4_server: FakeGa4Server
) -> None:
    served = (date(2025, 1, 1), date(2025, 1, 10))
    frame = _site_snapshot("2025-01-02", "2025-01-09", sessions=1)
    write_snapshot(frame, tmp_path / "ga4_site_daily.parquet", served)
    client = DemoGa4Client(tmp_path)
    assert client.served_days(SITE) == served  # what it says, not its first and last row
    assert len(next(client.pages(SITE, *served)).rows) == 8
    frame.to_parquet(tmp_path / "ga4_site_daily.parquet")
    assert client.served_days(SITE) is None  # a snapshot that does not say: nothing trimmed
    assert make_client(ga4_server).served_days(SITE) is None  # live: GA4 keeps its history


# The Dagster asset in live mode -------------------------------------------------------------
# Thirty daily partitions, extracted as one run (a single-run backfill).
PARTITIONS = daily_partitions(date(2025, 3, 1), date(2025, 3, 31))
RUN_START, RUN_END = date(2025, 3, 2), date(2025, 3, 31)


def _materialize(
    warehouse: Path,
    ga4: Ga4Resource,
    reports: tuple[Ga4Report, ...] = DEFAULT_REPORTS,
    days: tuple[date, date] = (RUN_START, RUN_END),
) -> dg.ExecuteInProcessResult:
    assets = build_ga4_assets(reports, PARTITIONS)
    # As in the definitions: a failed extraction keeps the last good rows, and this check fails
    # the run (sources/source_health.py).
    checks = [extraction_check(asset.key, "GA4") for asset in assets]
    return dg.materialize(
        [*assets, *checks],
        resources={"warehouse": WarehouseResource(path=str(warehouse)), "ga4": ga4},
        tags=range_tags(days[0].isoformat(), days[1].isoformat()),
        raise_on_error=False,
    )


def _read(warehouse: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(f"select * from raw.{table}").df()


def _live(server: FakeGa4Server, **overrides: object) -> Ga4Resource:
    options: dict[str, object] = {
        "mode": "live",
        "property_id": PROPERTY,
        "api_endpoint": server.url,
        "page_size": 200,
        "request_timeout_seconds": 2.0,
        "retry_initial_seconds": 0.005,
        "retry_maximum_seconds": 0.02,
        "retry_deadline_seconds": 0.5,
    }
    options.update(overrides)
    return Ga4Resource(**options)  # type: ignore[arg-type]


def test_live_asset_materialises_against_the_fake(
    ga4_server: FakeGa4Server, tmp_path: Path
) -> None:
    ga4_server.set_faults(rate=0.2, seed=21)
    warehouse = tmp_path / "w.duckdb"
    result = _materialize(warehouse, _live(ga4_server))
    assert result.success

    start, end = RUN_START, RUN_END
    for report in DEFAULT_REPORTS:
        table = _read(warehouse, report.table)
        expected = ga4_server.expected_rows(PROPERTY, report.dimensions, report.metrics, start, end)
        assert len(table) == len(expected), report.table
        assert table["date"].min() == pd.Timestamp(start)
        assert not table.duplicated(subset=report.columns[: len(report.dimensions)]).any()
        metadata = {
            event.asset_key.path[-1]: event.materialization.metadata
            for event in result.get_asset_materialization_events()
        }[report.table]
        pages = math.ceil(len(expected) / 200)
        assert metadata["dagster/row_count"].value == len(expected)
        assert metadata["pages"].value == pages
        assert metadata["requests"].value == pages + metadata["retries"].value
        assert metadata["days"].value == f"{start} .. {end}"
        assert metadata["flags_set"].value == "none"
    failed = sum(1 for r in ga4_server.requests if r.status != 200)
    # One run covers 30 partitions: each asset reports the same extraction for every day.
    per_asset = {
        e.asset_key: e.materialization.metadata["retries"].value
        for e in result.get_asset_materialization_events()
    }
    assert len(result.get_asset_materialization_events()) == 30 * len(DEFAULT_REPORTS)
    assert failed and sum(per_asset.values()) == failed


def test_a_failed_page_leaves_the_previous_table_untouched(
    ga4_server: FakeGa4Server, tmp_path: Path
) -> None:
    warehouse = tmp_path / "w.duckdb"
    assert _materialize(warehouse, _live(ga4_server), (TRAFFIC,)).success
    before = _read(warehouse, TRAFFIC.table)

    ga4_server.add_property(PROPERTY, rows_per_day=41, seed=8)  # new data upstream
    ga4_server.set_faults(fail_from_page=3, fail_status=500)
    ga4_server.reset_requests()
    result = _materialize(warehouse, _live(ga4_server), (TRAFFIC,))
    assert not result.success
    assert {r.offset for r in ga4_server.successful_requests()} == {0, 200, 400}
    pd.testing.assert_frame_equal(_read(warehouse, TRAFFIC.table), before)
    metadata = result.get_asset_materialization_events()[-1].materialization.metadata
    assert "InternalServerError" in metadata[EXTRACTION_FAILED].value
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR

    ga4_server.set_faults()
    assert _materialize(warehouse, _live(ga4_server), (TRAFFIC,)).success
    assert len(_read(warehouse, TRAFFIC.table)) == 30 * 41


def _sessions_by_day(warehouse: Path) -> dict[date, int]:
    frame = _read(warehouse, SITE.table)
    return dict(zip(frame["date"].dt.date, frame["sessions"], strict=True))


def test_a_demo_run_deletes_the_days_its_snapshot_does_not_cover(tmp_path: Path) -> None:
    """The demo's snapshot states the simulated days: rows of other days are an earlier,
    longer demo's, and the asset deletes them when it writes its own days."""
    warehouse, snapshot = tmp_path / "w.duckdb", tmp_path / "ga4_site_daily.parquet"
    demo = Ga4Resource(mode="demo", demo_snapshot_dir=str(tmp_path))
    month = (date(2025, 3, 1), date(2025, 3, 31))
    write_snapshot(_site_snapshot("2025-03-01", "2025-03-31", 1), snapshot, month)
    assert _materialize(warehouse, demo, (SITE,), month).success
    assert len(_sessions_by_day(warehouse)) == 31

    served = (date(2025, 3, 10), date(2025, 3, 20))
    write_snapshot(_site_snapshot("2025-03-10", "2025-03-20", 2), snapshot, served)
    for deleted in (20, 0):  # a rerun deletes nothing more and duplicates nothing
        result = _materialize(warehouse, demo, (SITE,), (date(2025, 3, 18), date(2025, 3, 20)))
        metadata = result.get_asset_materialization_events()[-1].materialization.metadata
        assert metadata["rows_outside_range_deleted"].value == deleted
        assert metadata["served_days"].value == "2025-03-10 .. 2025-03-20"
        by_day = _sessions_by_day(warehouse)
        # the served days this run did not extract keep what the first run loaded
        assert sorted(by_day) == [date(2025, 3, d) for d in range(10, 21)]
        assert [by_day[date(2025, 3, d)] for d in (17, 18, 20)] == [1, 2, 2]

    snapshot.unlink()  # a demo snapshot gone: the extraction fails, nothing is deleted
    result = _materialize(warehouse, demo, (SITE,), month)
    metadata = result.get_asset_materialization_events()[-1].materialization.metadata
    assert "materialise demo/business" in metadata[EXTRACTION_FAILED].value
    assert len(_sessions_by_day(warehouse)) == 11


def test_live_extraction_keeps_the_days_outside_its_run(
    ga4_server: FakeGa4Server, tmp_path: Path
) -> None:
    """Live, the source states no days: a run replaces its own days and nothing else."""
    warehouse, ga4 = tmp_path / "w.duckdb", _live(ga4_server)
    assert _materialize(warehouse, ga4, (SITE,), (date(2025, 3, 1), date(2025, 3, 5))).success
    result = _materialize(warehouse, ga4, (SITE,), (date(2025, 3, 20), date(2025, 3, 21)))
    assert result.success
    metadata = result.get_asset_materialization_events()[-1].materialization.metadata
    assert "rows_outside_range_deleted" not in metadata
    assert len(_sessions_by_day(warehouse)) == 7


def test_live_mode_without_a_property_is_skipped(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    result = _materialize(warehouse, Ga4Resource(mode="live"), (SITE,))
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["skipped"].value == "GA4_PROPERTY_ID unset"
    with duckdb.connect(str(warehouse)) as conn:  # nothing written, nothing dropped
        assert conn.execute("select count(*) from duckdb_tables()").fetchone() == (0,)


def test_credentials_never_reach_the_metadata(
    ga4_server: FakeGa4Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "secret-service-account.json"
    info = service_account_file(key_file, token_uri=f"{ga4_server.url}/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    result = _materialize(tmp_path / "w.duckdb", _live(ga4_server), (SITE,))
    assert result.success
    assert ga4_server.requests and all(r.authorized for r in ga4_server.requests)

    events = "\n".join(repr(event) for event in result.all_events)
    for secret in key_secrets(key_file, info):
        assert secret not in events
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        dump = conn.execute("select * from raw.ga4_site_daily").df().to_csv()
    assert not any(secret in dump for secret in key_secrets(key_file, info))


def test_an_unreadable_key_file_is_named_by_variable_not_path(tmp_path: Path) -> None:
    key_file = tmp_path / "broken-key.json"
    key_file.write_text("{not json")
    with pytest.raises(Ga4Error) as raised:
        LiveGa4Client(PROPERTY, credentials_path=str(key_file))
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(raised.value)
    assert str(key_file) not in str(raised.value) and "broken-key" not in str(raised.value)
