"""Live Search Console extraction against a local fake of `searchanalytics.query`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from flywheel_pipeline.metadata import utc_now
from flywheel_pipeline.sources.google.retry import RetryPolicy
from flywheel_pipeline.sources.google.snapshot import write_snapshot
from flywheel_pipeline.sources.google.stats import ExtractionStats
from flywheel_pipeline.sources.partitions import daily_partitions, range_tags
from flywheel_pipeline.sources.report_file import load_reports
from flywheel_pipeline.sources.search_console.assets import build_search_console_assets
from flywheel_pipeline.sources.search_console.extract import (
    RAW_TABLE,
    DemoSearchConsoleClient,
    QueryPage,
    page_frame,
)
from flywheel_pipeline.sources.search_console.live import (
    LiveSearchConsoleClient,
    SearchConsoleError,
    SearchConsoleQuotaError,
    quota_message,
)
from flywheel_pipeline.sources.search_console.resource import SearchConsoleResource
from flywheel_pipeline.warehouse import (
    WarehouseResource,
    connect,
    read_relation,
    replace_table_streaming,
)
from tests.fakes.gsc_server import FakeDataset, FakeSearchConsole, Faults

SITE = "sc-domain:example.com"
REPORT = load_reports().search_console[0]
RELATION = f"raw.{RAW_TABLE}"
FAST = RetryPolicy(max_attempts=10, initial=0.001, maximum=0.01)
KEY = ["date", "query", "page", "country", "device"]


@pytest.fixture
def gsc_fake() -> Iterator[Callable[..., FakeSearchConsole]]:
    """Start fakes on 127.0.0.1:0; every one is stopped at teardown (and stops itself)."""
    started: list[FakeSearchConsole] = []

    def start(dataset: FakeDataset | None = None, faults: Faults | None = None):
        fake = FakeSearchConsole(dataset, faults, max_requests=2_000, lifetime=120).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def client_for(fake: FakeSearchConsole, **options) -> LiveSearchConsoleClient:
    options = {"row_limit": 1_000, "retry": FAST, "timeout": 5.0, "seed": 1} | options
    return LiveSearchConsoleClient(SITE, api_endpoint=fake.endpoint, **options)


def extract(
    client: LiveSearchConsoleClient,
    dataset: FakeDataset,
    warehouse: Path,
    stats: ExtractionStats | None = None,
) -> int:
    """What the asset does: stream every page into raw.gsc_search_analytics."""
    loaded_at = utc_now()
    with connect(warehouse) as conn:
        return replace_table_streaming(
            conn,
            RELATION,
            (
                page_frame(REPORT, p, loaded_at)
                for p in client.pages(REPORT, dataset.start, dataset.end, stats)
            ),
            columns=REPORT.column_types,
        )


def stored(warehouse: Path) -> pd.DataFrame:
    with connect(warehouse, read_only=True) as conn:
        frame = read_relation(conn, RELATION)
    for column in ("date", "first_incomplete_date"):  # DATE arrives as datetime64
        frame[column] = pd.to_datetime(frame[column]).dt.date.astype("object")
        frame[column] = frame[column].where(frame[column].notna(), None)
    return frame


def expected_rows(dataset: FakeDataset) -> pd.DataFrame:
    rows = dataset.rows(dataset.start, dataset.end, 0, dataset.total_rows)
    frame = pd.DataFrame([r["keys"] for r in rows], columns=KEY)
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    for metric in ("clicks", "impressions"):
        frame[metric] = [int(r[metric]) for r in rows]
    return frame.sort_values(KEY, ignore_index=True)


def business_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[[*KEY, "clicks", "impressions"]].astype({"clicks": int, "impressions": int})
    return frame.sort_values(KEY, ignore_index=True)


def test_reconciles_exactly_under_a_20_percent_fault_rate(gsc_fake, tmp_path):
    dataset = FakeDataset(total_rows=12_345)
    faults = Faults(rate=0.2, seed=3, slow_rate=0.05, slow_seconds=0.4)
    fake = gsc_fake(dataset, faults)
    client = client_for(fake, timeout=0.15)

    stats = ExtractionStats()
    written = extract(client, dataset, tmp_path / "w.duckdb", stats)

    rows = stored(tmp_path / "w.duckdb")
    assert written == len(rows) == dataset.total_rows
    assert not rows.duplicated(KEY).any()
    pd.testing.assert_frame_equal(business_columns(rows), expected_rows(dataset))
    failed = [r for r in fake.requests if r["status"] != 200]
    assert len(failed) >= 2  # the fault rate was really exercised
    assert stats.retries == stats.requests - stats.pages > 0
    assert stats.pages == 13 and stats.rows == dataset.total_rows
    assert rows["_page"].nunique() == 13 and rows["_request_id"].nunique() == 13


@pytest.mark.parametrize(
    ("total_rows", "row_limit", "requests"),
    [
        (2_500, 1_000, 3),  # the short third page ends it
        (3_000, 1_000, 4),  # a full last page needs one more, empty, page to know it ended
        (999, 1_000, 1),
        (0, 1_000, 1),
        (50_001, 25_000, 3),  # the API's maximum page size
    ],
)
def test_uses_the_fewest_requests(gsc_fake, tmp_path, total_rows, row_limit, requests):
    dataset = FakeDataset(total_rows=total_rows)
    fake = gsc_fake(dataset)
    client = client_for(fake, row_limit=row_limit)

    assert extract(client, dataset, tmp_path / "w.duckdb") == total_rows

    assert len(fake.requests) == len(fake.successful()) == requests
    assert [r["startRow"] for r in fake.requests] == [i * row_limit for i in range(requests)]
    body = fake.requests[0]["body"]
    assert body["dimensions"] == KEY and body["dataState"] == "all"
    assert body["rowLimit"] == row_limit
    assert (body["startDate"], body["endDate"]) == (str(dataset.start), str(dataset.end))
    assert fake.requests[0]["site"] == SITE
    assert fake.requests[0]["authorization"] == "absent"  # anonymous against http://


def test_first_incomplete_date_and_data_state_land_as_columns(gsc_fake, tmp_path):
    dataset = FakeDataset(total_rows=600, days=10)
    fake = gsc_fake(dataset)

    extract(client_for(fake), dataset, tmp_path / "all.duckdb")
    rows = stored(tmp_path / "all.duckdb")
    assert set(rows["data_state"]) == {"all"}
    assert set(rows["first_incomplete_date"]) == {dataset.incomplete_from}
    assert (rows["date"] >= dataset.incomplete_from).sum() == 120  # 2 of 10 days not final

    extract(client_for(fake, data_state="final"), dataset, tmp_path / "final.duckdb")
    final = stored(tmp_path / "final.duckdb")
    assert set(final["data_state"]) == {"final"}
    assert final["first_incomplete_date"].isna().all()
    assert final["date"].max() < dataset.incomplete_from and len(final) == 480


def test_spent_daily_quota_fails_at_once_with_a_clear_message(gsc_fake, tmp_path):
    dataset = FakeDataset(total_rows=5_000)
    fake = gsc_fake(dataset, Faults(quota_after_pages=2))
    sleeps: list[float] = []
    client = client_for(fake, sleep=sleeps.append)

    with pytest.raises(SearchConsoleQuotaError) as raised:
        extract(client, dataset, tmp_path / "w.duckdb")

    message = str(raised.value)
    assert "Search Analytics load quota exceeded" in message
    assert SITE in message and "Not retrying" in message
    assert "midnight Pacific time" in message and "UTC" in message
    assert len(fake.requests) == 3 and sleeps == []  # no retry, no backoff


def test_quota_message_says_when_the_quota_resets():
    now = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 14:30 in Los Angeles
    message = quota_message(SITE, 429, "dailylimitexceeded", "Daily Limit Exceeded", now)
    assert "daily request quota" in message
    assert "in 9 h 30 min (2026-11-24 08:00 UTC)" in message


def test_failure_mid_way_leaves_the_previous_table_intact(gsc_fake, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    dataset = FakeDataset(total_rows=4_500)
    extract(client_for(gsc_fake(dataset)), dataset, warehouse)
    before = stored(warehouse)

    bigger = FakeDataset(total_rows=9_000)
    failing = gsc_fake(bigger, Faults(failing_start_rows={3_000: 503}))
    client = client_for(failing, retry=RetryPolicy(max_attempts=3, initial=0.001))
    with pytest.raises(SearchConsoleError, match=r"gave up after 3 attempts.*startRow 3000"):
        extract(client, bigger, warehouse)

    assert [r["status"] for r in failing.requests] == [200, 200, 200, 503, 503, 503]
    pd.testing.assert_frame_equal(stored(warehouse), before)
    with connect(warehouse, read_only=True) as conn:
        tables = conn.execute("select table_name from duckdb_tables()").fetchall()
    assert tables == [(RAW_TABLE,)]  # no staging table left behind


def test_a_non_retryable_error_is_not_retried(gsc_fake, tmp_path):
    dataset = FakeDataset(total_rows=100)
    fake = gsc_fake(dataset, Faults(failing_start_rows={0: 400}))
    with pytest.raises(SearchConsoleError, match="HTTP 400"):
        extract(client_for(fake), dataset, tmp_path / "w.duckdb")
    assert len(fake.requests) == 1


def test_backoff_is_exponential_with_jitter():
    import random

    policy = RetryPolicy(initial=1.0, maximum=8.0, multiplier=2.0, jitter=0.5)
    rng = random.Random(0)
    delays = [policy.delay(n, rng) for n in range(6)]
    for n, delay in enumerate(delays):
        ceiling = min(8.0, 2.0**n)
        assert ceiling / 2 <= delay <= ceiling
    assert policy.delay(0, rng, retry_after=5.0) == 5.0
    assert policy.delay(0, rng, retry_after=600.0) == 8.0


def test_credentials_never_leak_into_errors(tmp_path):
    key_file = tmp_path / "secret-key.json"
    key_file.write_text(json.dumps({"type": "service_account", "private_key": "TOPSECRET"}))
    client = LiveSearchConsoleClient(SITE, credentials_file=str(key_file))
    with pytest.raises(SearchConsoleError) as raised:
        next(client.pages(REPORT, date(2026, 1, 1), date(2026, 1, 2)))
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(raised.value)
    assert "secret" not in str(raised.value).lower() and "secret" not in repr(client).lower()


def test_demo_client_filters_its_snapshot_by_date(tmp_path):
    snapshot = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),
            "query": ["a", "b", "c"],
            "page": ["https://shop.example/"] * 3,
            "country": ["usa"] * 3,
            "device": ["MOBILE"] * 3,
            "clicks": [1, 2, 3],
            "impressions": [10, 20, 30],
            "ctr": [0.1] * 3,
            "position": [1.0] * 3,
        }
    )
    snapshot.to_parquet(tmp_path / f"{RAW_TABLE}.parquet")
    client = DemoSearchConsoleClient(tmp_path)
    [whole] = client.pages(REPORT, date(2026, 1, 1), date(2026, 1, 3))
    [window] = client.pages(REPORT, date(2026, 1, 2), date(2026, 1, 3))
    assert len(whole.rows) == 3 and list(window.rows["query"]) == ["b", "c"]
    assert list(page_frame(REPORT, window, utc_now()).columns) == list(REPORT.column_types)


def _snapshot_rows(days: list[date], query: str = "q") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.to_datetime(days),
            "query": [f"{query}{i}" for i in range(len(days))],
            "page": "https://shop.example/",
            "country": "usa",
            "device": "MOBILE",
            "clicks": 1,
            "impressions": 10,
            "ctr": 0.1,
            "position": 1.0,
        }
    )


def test_the_demo_client_states_the_days_its_snapshot_covers(tmp_path):
    served = (date(2026, 1, 1), date(2026, 1, 31))
    # Days without a row still belong to the snapshot: it states them, rather than its rows.
    write_snapshot(_snapshot_rows([date(2026, 1, 5)]), tmp_path / f"{RAW_TABLE}.parquet", served)
    client = DemoSearchConsoleClient(tmp_path)
    assert client.served_days(REPORT) == served
    [page] = client.pages(REPORT, *served)
    assert list(page.rows["query"]) == ["q0"]
    _snapshot_rows([date(2026, 1, 5)]).to_parquet(tmp_path / f"{RAW_TABLE}.parquet")
    assert client.served_days(REPORT) is None  # a snapshot that does not say: nothing trimmed
    with pytest.raises(FileNotFoundError, match="materialise demo/business"):
        DemoSearchConsoleClient(tmp_path / "none").served_days(REPORT)
    assert LiveSearchConsoleClient(SITE).served_days(REPORT) is None


def _demo_run(tmp_path: Path, first: date, last: date) -> dict:
    """One run of the demo-mode asset over `first`..`last`; its metadata."""
    partitions = daily_partitions(date(2026, 1, 1), date(2026, 3, 31))
    result = dg.materialize(
        build_search_console_assets([REPORT], partitions),
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "search_console": SearchConsoleResource(mode="demo", demo_snapshot_dir=str(tmp_path)),
        },
        tags=range_tags(first.isoformat(), last.isoformat()),
    )
    assert result.success
    return {
        k: v.value
        for k, v in result.get_asset_materialization_events()[-1].materialization.metadata.items()
    }


def _days_held(tmp_path: Path) -> dict[date, str]:
    return dict(zip(*(stored(tmp_path / "w.duckdb")[c] for c in ("date", "query")), strict=True))


def test_the_asset_deletes_the_days_the_demo_no_longer_simulates(tmp_path):
    """A longer earlier demo (January to March) left rows the new one (February) has not."""
    snapshot = tmp_path / f"{RAW_TABLE}.parquet"
    jan, feb, mar = date(2026, 1, 10), date(2026, 2, 10), date(2026, 3, 10)
    write_snapshot(_snapshot_rows([jan, feb, mar]), snapshot, (date(2026, 1, 1), date(2026, 3, 31)))
    _demo_run(tmp_path, date(2026, 1, 1), date(2026, 3, 31))
    assert _days_held(tmp_path) == {jan: "q0", feb: "q1", mar: "q2"}

    feb_only = (date(2026, 2, 1), date(2026, 2, 28))
    write_snapshot(_snapshot_rows([feb, date(2026, 2, 11)], "new"), snapshot, feb_only)
    # Only the last days are extracted (a restatement): the days outside go all the same.
    metadata = _demo_run(tmp_path, date(2026, 2, 11), date(2026, 2, 28))
    assert metadata["rows_outside_range_deleted"] == 2
    assert metadata["served_days"] == "2026-02-01 .. 2026-02-28"
    # January and March are gone; February 10th, served but not extracted by this run, keeps
    # what the first run loaded there; the 11th holds the new snapshot's row.
    assert _days_held(tmp_path) == {feb: "q1", date(2026, 2, 11): "new1"}
    # Idempotent: a rerun deletes nothing more and duplicates nothing.
    again = _demo_run(tmp_path, date(2026, 2, 11), date(2026, 2, 28))
    assert again["rows_outside_range_deleted"] == 0
    assert _days_held(tmp_path) == {feb: "q1", date(2026, 2, 11): "new1"}
    assert len(stored(tmp_path / "w.duckdb")) == 2


def test_live_extraction_keeps_the_days_outside_its_run(gsc_fake, tmp_path):
    """Search Console forgets days after 16 months; the raw table keeps them."""
    start = date(2026, 10, 1)
    dataset = FakeDataset(total_rows=50, start=start, days=2)
    fake = gsc_fake(dataset)
    old = _snapshot_rows([date(2025, 1, 1)])
    with connect(tmp_path / "w.duckdb") as conn:
        replace_table_streaming(
            conn,
            RELATION,
            [page_frame(REPORT, _page(old), utc_now())],
            columns=REPORT.column_types,
        )
    result = dg.materialize(
        build_search_console_assets([REPORT], daily_partitions(start, date(2026, 10, 2))),
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "search_console": SearchConsoleResource(
                mode="live", site_url=SITE, api_endpoint=fake.endpoint
            ),
        },
        tags=range_tags("2026-10-01", "2026-10-02"),
    )
    assert result.success
    metadata = result.get_asset_materialization_events()[-1].materialization.metadata
    assert "rows_outside_range_deleted" not in metadata
    held = stored(tmp_path / "w.duckdb")
    assert date(2025, 1, 1) in set(held["date"]) and len(held) == 51


def _page(rows: pd.DataFrame) -> QueryPage:
    return QueryPage(rows, request_id="earlier", page=0)


def test_raw_asset_materialises_in_live_mode_and_reruns_identically(gsc_fake, tmp_path):
    start, end = date(2026, 10, 1), date(2026, 10, 30)
    dataset = FakeDataset(total_rows=5_000, start=start, days=(end - start).days + 1)
    fake = gsc_fake(dataset)
    resources = {
        "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
        "search_console": SearchConsoleResource(
            mode="live", site_url=SITE, api_endpoint=fake.endpoint, row_limit=2_000
        ),
    }
    assets = build_search_console_assets([REPORT], daily_partitions(start, end))

    runs = []
    for _ in range(2):
        result = dg.materialize(
            assets, resources=resources, tags=range_tags(start.isoformat(), end.isoformat())
        )
        assert result.success
        events = result.get_asset_materialization_events()
        assert len(events) == 30  # one per day, from one run
        event = events[-1]
        runs.append((event.materialization.metadata, stored(tmp_path / "w.duckdb")))

    (metadata, first), (_, second) = runs
    assert metadata["dagster/row_count"].value == 5_000
    assert metadata["requests"].value == 3 and metadata["retries"].value == 0
    assert metadata["first_incomplete_date"].value == str(dataset.incomplete_from)
    assert metadata["days"].value == f"{start} .. {end}"
    assert not any("credential" in key for key in metadata)
    lineage = ["_request_id", "_loaded_at"]
    pd.testing.assert_frame_equal(
        first.drop(columns=lineage).sort_values(KEY, ignore_index=True),
        second.drop(columns=lineage).sort_values(KEY, ignore_index=True),
    )
    assert len(second) == 5_000 and not second.duplicated(KEY).any()
    assert set(fake.requests[0]["body"]) >= {"startDate", "endDate", "rowLimit", "startRow"}
    assert fake.requests[0]["body"]["endDate"] == str(end)
    assert end - start == timedelta(days=29)
