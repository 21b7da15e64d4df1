"""Fault isolation (issue #11): a source that fails stops neither what it does not feed nor
what it feeds. Its tables keep their last good rows and are flagged stale (materialisation
metadata, the `extraction_succeeded` check, `source_health`, the report), and the run still
ends failed."""

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import google.auth.exceptions
import pandas as pd
import pytest

from flywheel_pipeline.sources.files.assets import file_table_asset
from flywheel_pipeline.sources.partitions import daily_partitions, range_tags
from flywheel_pipeline.sources.report_file import load_reports
from flywheel_pipeline.sources.search_console.assets import build_search_console_assets
from flywheel_pipeline.sources.search_console.resource import SearchConsoleResource
from flywheel_pipeline.sources.source_health import (
    DATA_THROUGH,
    EXTRACTION_CHECK,
    EXTRACTION_FAILED,
    FILES_CHECK,
    LAST_GOOD_LOAD,
    MAX_CAUSE,
    TRANSPORT_ERRORS,
    describe_failure,
    drop_health,
    extract_keeping_last_good,
    extraction_check,
    extraction_health,
    rejected_files_check,
    source_health,
    stale_days,
)
from flywheel_pipeline.warehouse import WarehouseResource, replace_slice_streaming
from tests.drops_support import ORDERS_HEADER, ORDERS_TABLE, Drop, order

FIRST, LAST = dt.date(2026, 9, 1), dt.date(2026, 9, 30)
THINGS = dg.AssetKey(["raw", "things"])
LOADED_AT = dt.datetime(2026, 10, 1, 6, 30)  # naive UTC, as the lineage columns are


class SourceDown(Exception):
    """Stands in for a source's own error (quota, outage after retries)."""


# The shared helper alone --------------------------------------------------------------------


def _things(fail: BaseException | None) -> dg.AssetsDefinition:
    """A raw asset that streams two days of rows, or fails after the first page."""

    @dg.asset(key=THINGS)
    def things(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        def pages() -> Iterator[pd.DataFrame]:
            for day in (FIRST, LAST):
                yield pd.DataFrame({"date": [day], "n": [1], "_loaded_at": [LOADED_AT]})
                if fail is not None:
                    raise fail

        def extract(conn: duckdb.DuckDBPyConnection) -> dict[str, object]:
            rows = replace_slice_streaming(
                conn, "raw.things", pages(), where="date between ? and ?", params=[FIRST, LAST]
            )
            return {"dagster/row_count": dg.MetadataValue.int(rows)}

        return extract_keeping_last_good(
            context,
            warehouse,
            source="Things",
            relation="raw.things",
            days=(FIRST, LAST),
            extract=extract,
            errors=(SourceDown, *TRANSPORT_ERRORS),
        )

    return things


@dg.asset(deps=[THINGS], key=["marts", "things_daily"])
def things_daily() -> None:
    """Stands in for dbt and what follows it."""


def _run(tmp_path: Path, instance: dg.DagsterInstance, fail: BaseException | None = None):
    return dg.materialize(
        [_things(fail), extraction_check(THINGS, "Things"), things_daily],
        resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))},
        instance=instance,
        raise_on_error=False,
    )


def _table(tmp_path: Path) -> pd.DataFrame:
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as conn:
        return conn.execute("select * from raw.things order by date").df()


def _built(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def _failed_steps(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.step_key for e in result.all_events if e.is_step_failure]


def test_a_failed_extraction_keeps_the_table_builds_downstream_and_fails_the_run(
    tmp_path: Path,
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    good = _run(tmp_path, instance)
    assert good.success
    before = _table(tmp_path)
    assert len(before) == 2

    failed = _run(tmp_path, instance, SourceDown("daily quota spent"))

    assert not failed.success
    assert failed.dagster_run.status == dg.DagsterRunStatus.FAILURE
    assert _built(failed) == {"raw/things", "marts/things_daily"}  # downstream still built
    assert _failed_steps(failed) == [f"raw__things_{EXTRACTION_CHECK}"]
    pd.testing.assert_frame_equal(_table(tmp_path), before)  # nothing written
    metadata = failed.get_asset_materialization_events()[0].materialization.metadata
    assert metadata[EXTRACTION_FAILED].value == "SourceDown: daily quota spent"
    assert metadata[LAST_GOOD_LOAD].value == LOADED_AT.replace(tzinfo=dt.UTC).timestamp()
    assert metadata[DATA_THROUGH].value == str(LAST)
    assert metadata["days"].value == f"{FIRST} .. {LAST}"
    assert "dagster/row_count" not in metadata
    [evaluation] = failed.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "daily quota spent" in (evaluation.description or "")
    assert "2026-10-01 06:30 UTC, through 2026-09-30" in (evaluation.description or "")

    health = extraction_health(instance, THINGS, "Things")
    assert health.stale and health.status == "failed"
    assert (health.cause, health.run_id) == ("SourceDown: daily quota spent", failed.run_id)
    assert health.last_good_load == LOADED_AT.replace(tzinfo=dt.UTC)
    assert health.data_through == LAST
    assert "extraction failed in run" in health.summary()
    # Its days are recorded as materialised, but a catch-up run must extract them again.
    assert stale_days(instance, THINGS) == {str(FIRST + dt.timedelta(days=i)) for i in range(30)}

    recovered = _run(tmp_path, instance)
    assert recovered.success
    health = extraction_health(instance, THINGS, "Things")
    assert health.status == "ok" and not health.stale and health.run_id == recovered.run_id
    assert stale_days(instance, THINGS) == set()


def test_a_programming_error_is_not_isolated(tmp_path: Path) -> None:
    """A bug is not a source failure: the step fails as before and nothing builds on it."""
    result = _run(tmp_path, dg.DagsterInstance.ephemeral(), TypeError("bad argument"))
    assert not result.success
    assert _built(result) == set()
    assert _failed_steps(result) == ["raw__things"]


def test_the_cause_never_carries_a_secret() -> None:
    email = "extractor@flywheel-test.iam.gserviceaccount.com"
    refused = google.auth.exceptions.RefreshError(
        f"invalid_grant: Invalid grant: account {email} not found",
        {"error": "invalid_grant", "error_description": f"account {email} not found"},
    )
    cause = describe_failure(refused)
    assert "RefreshError: invalid_grant" in cause and "GOOGLE_APPLICATION_CREDENTIALS" in cause
    assert email not in cause
    missing = FileNotFoundError(2, "No such file or directory", "/secrets/key.json")
    assert describe_failure(missing) == "FileNotFoundError: No such file or directory"
    long = describe_failure(SourceDown("x" * 5_000))
    assert len(long) == MAX_CAUSE and long.endswith("…")
    assert describe_failure(SourceDown("two\n  lines")) == "SourceDown: two lines"


def test_an_unconfigured_live_source_is_skipped_not_stale(tmp_path: Path) -> None:
    report = load_reports().search_console[0]
    [asset] = build_search_console_assets([report], daily_partitions(FIRST, LAST))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [asset, extraction_check(asset.key, "Search Console")],
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "search_console": SearchConsoleResource(mode="live"),
        },
        instance=instance,
        tags=range_tags(FIRST.isoformat(), LAST.isoformat()),
    )
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed and "skipped" in (evaluation.description or "")
    health = extraction_health(instance, asset.key, "Search Console")
    assert health.status == "skipped" and not health.stale
    assert health.cause == "GSC_SITE_URL unset"


def test_a_newly_rejected_file_fails_the_run_while_the_others_load(tmp_path: Path) -> None:
    drop, instance = Drop(tmp_path), dg.DagsterInstance.ephemeral()
    key = dg.AssetKey(["raw", "crm_orders"])

    @dg.asset(deps=[key])
    def revenue_mart() -> None:
        """Stands in for what the orders feed."""

    def load() -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [
                file_table_asset(ORDERS_TABLE, []),
                rejected_files_check(key, "crm/orders"),
                revenue_mart,
            ],
            resources=drop.resources(),
            instance=instance,
            raise_on_error=False,
        )

    drop.write("crm/orders/good.csv", ORDERS_HEADER + order("o1") + order("o2"))
    drop.write("crm/orders/no_ids.csv", "contact_id,ordered_at,revenue\nc1,2026-03-01,5\n")

    first = load()
    assert not first.success
    assert _built(first) == {"raw/crm_orders", "revenue_mart"}
    assert _failed_steps(first) == [f"raw__crm_orders_{FILES_CHECK}"]
    [evaluation] = first.get_asset_check_evaluations()
    assert not evaluation.passed and "no_ids.csv" in (evaluation.description or "")
    with duckdb.connect(str(drop.database), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.crm_orders").fetchone() == (2,)
    health = drop_health(instance, key, "landing/crm/orders")
    assert health.status == "rejected" and "no_ids.csv" in (health.cause or "")

    # The same file, unchanged, is not new: the next run does not fail on it again.
    second = load()
    assert second.success
    assert drop_health(instance, key, "landing/crm/orders").status == "ok"


# The whole job, live, with Search Console's token request failing ----------------------------

PROPERTY = "123456789"
SITE = "sc-domain:shop.example"
GSC = dg.AssetKey(["raw", "gsc_search_analytics"])


class _RefusingTokenServer:
    """A token endpoint that refuses every service-account assertion, as Google does for a
    deleted key: 400 invalid_grant, naming the account."""

    def __init__(self, client_email: str) -> None:
        answer = json.dumps(
            {"error": "invalid_grant", "error_description": f"account {client_email} not found"}
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(400)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.slow
def test_search_console_failing_leaves_the_rest_of_the_run_intact(
    tmp_path: Path, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flywheel_pipeline.definitions import build_definitions
    from flywheel_pipeline.settings import load_settings
    from flywheel_pipeline.sources.demo import DemoConfig, simulate, write_landing_files
    from tests.fakes.ga4_server import FakeGa4Server
    from tests.fakes.gsc_server import FakeDataset, FakeSearchConsole
    from tests.support import key_secrets, service_account_file

    home = tmp_path / "home"
    business = simulate(DemoConfig(seed=7, scale=0.1, days=90, end_date=LAST))
    write_landing_files(business, home / "landing")
    key_file = tmp_path / "service-account.json"
    gsc_dataset = FakeDataset(total_rows=3_000, start=FIRST, days=30)
    with (
        FakeGa4Server(max_requests=500, lifetime_seconds=300) as ga4,
        FakeSearchConsole(gsc_dataset, max_requests=500, lifetime=300) as gsc,
    ):
        ga4.add_property(PROPERTY, rows_per_day=30, seed=3)
        common = {
            "flywheel_home": home,
            "flywheel_duckdb_path": home / "warehouse" / "warehouse.duckdb",
            "flywheel_source": "live",
            "flywheel_start_date": FIRST,
            "ga4_property_id": PROPERTY,
            "ga4_api_endpoint": ga4.url,
            "gsc_site_url": SITE,
            "gsc_api_endpoint": gsc.endpoint,
        }
        instance = dg.DagsterInstance.ephemeral()
        tags = range_tags(FIRST.isoformat(), LAST.isoformat())

        # The last good load: Search Console alone, anonymous against the fake (http://).
        settings = load_settings(**common)
        job = build_definitions(settings).resolve_job_def("everything")
        good = job.execute_in_process(
            instance=instance, tags=tags, asset_selection=[GSC], raise_on_error=False
        )
        assert good.success, [e.message for e in good.all_events if e.is_failure]
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
            before = conn.execute(f"select * from {'.'.join(GSC.path)}").df()
        assert len(before) == gsc_dataset.total_rows

        # Then a service-account key whose token request fails: GA4's REST client signs its
        # own JWT and never asks for a token; Search Console does, and is refused.
        refusing = _RefusingTokenServer("extractor@flywheel-test.iam.gserviceaccount.com")
        try:
            info = service_account_file(key_file, token_uri=refusing.url)
            monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
            settings = load_settings(**common, google_application_credentials=key_file)
            definitions = build_definitions(settings)
            job = definitions.resolve_job_def("everything")
            gsc.requests.clear()
            result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        finally:
            refusing.stop()

    # The run ends failed, and only the Search Console check failed.
    assert not result.success
    assert _failed_steps(result) == [f"raw__gsc_search_analytics_{EXTRACTION_CHECK}"]
    assert not gsc.requests  # refused at the token: not a single query was sent
    assert ga4.requests and all(r.authorized for r in ga4.requests)

    # Every asset of the job was materialised: the marts and insights the other sources feed,
    # and those built on Search Console's last good rows.
    assert _built(result) == {key.to_user_string() for key in definitions.resolve_all_asset_keys()}
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        after = conn.execute(f"select * from {'.'.join(GSC.path)}").df()
        for mart in ("attract.traffic_daily", "engage.leads", "attract.search_queries_daily"):
            assert conn.execute(f"select count(*) from {mart}").fetchone()[0] > 0, mart
    pd.testing.assert_frame_equal(after, before)  # the last good rows, untouched

    [evaluation] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == GSC and e.check_name == EXTRACTION_CHECK
    ]
    assert not evaluation.passed and "invalid_grant" in (evaluation.description or "")

    health = {h.asset_key: h for h in source_health(instance, settings)}
    gsc_health = health[GSC]
    assert gsc_health.stale and gsc_health.run_id == result.run_id
    assert "RefreshError: invalid_grant" in (gsc_health.cause or "")
    assert gsc_health.data_through == LAST
    assert gsc_health.last_good_load is not None
    ga4_health = [h for h in health.values() if h.source == "GA4"]
    assert ga4_health and all(h.status == "ok" for h in ga4_health)

    report = (home / "reports" / "flywheel.html").read_text(encoding="utf-8")
    assert "Search Console: extraction failed in the last run (" in report
    assert f"its data is from the last good load on {gsc_health.last_good_load:%Y-%m-%d}" in report
    assert f"through {LAST}" in report
    assert "attract.search_queries_daily" in report  # what was built on that data
    assert "Built on stale Search Console data" in report  # said by the sections, too
    assert "GA4: extraction failed" not in report

    events = "\n".join(repr(event) for event in result.all_events)
    for secret in key_secrets(key_file, info):
        assert secret not in events and secret not in report
