"""Report definitions a user changes without code: defaults, merging, validation, requests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from textwrap import dedent

import pytest

from flywheel_pipeline.settings import SettingsError, load_settings
from flywheel_pipeline.sources.definitions import build_defs as source_defs
from flywheel_pipeline.sources.ga4.live import LiveGa4Client
from flywheel_pipeline.sources.google.retry import RetryPolicy
from flywheel_pipeline.sources.report_file import ReportFileError, load_reports
from flywheel_pipeline.sources.search_console.live import LiveSearchConsoleClient
from tests.fakes.ga4_server import FakeGa4Server
from tests.fakes.gsc_server import FakeDataset, FakeSearchConsole

ORGANIC_ONLY = """
    ga4:
      - table: ga4_traffic_acquisition
        dimensions: [date, sessionSource, sessionMedium, sessionCampaignName,
                     sessionDefaultChannelGroup, landingPage, deviceCategory]
        metrics: [sessions, engagedSessions, newUsers, keyEvents, totalRevenue, totalUsers]
        dimension_filter:
          filter: {fieldName: sessionMedium, stringFilter: {matchType: EXACT, value: organic}}
      - table: ga4_events
        enabled: false
      - table: ga4_country_daily
        dimensions: [date, country]
        metrics: [sessions]
    search_console:
      - table: gsc_search_analytics
        dimensions: [date, query, page, country, device]
        search_type: web
        dimension_filter_groups:
          - filters: [{dimension: country, operator: equals, expression: usa}]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reports.yaml"
    path.write_text(dedent(text))
    return path


def test_defaults_cover_the_reports_the_staging_models_read() -> None:
    reports = load_reports()
    assert [r.table for r in reports.ga4] == [
        "ga4_traffic_acquisition",
        "ga4_pages",
        "ga4_events",
        "ga4_site_daily",
    ]
    [gsc] = reports.search_console
    assert gsc.dimensions == ("date", "query", "page", "country", "device")
    assert all("date" in r.dimensions for r in (*reports.ga4, gsc))


def test_a_user_file_filters_extends_disables_and_adds_reports(tmp_path: Path) -> None:
    reports = load_reports(_write(tmp_path, ORGANIC_ONLY.replace("enabled: false", "enabled: no")))
    tables = [r.table for r in reports.ga4]
    assert tables == ["ga4_traffic_acquisition", "ga4_pages", "ga4_site_daily", "ga4_country_daily"]
    traffic = reports.ga4[0]
    assert traffic.dimension_filter is not None and "total_users" in traffic.column_types
    assert reports.search_console[0].request_body()["dimensionFilterGroups"] == [
        {
            "groupType": "and",
            "filters": [{"dimension": "country", "operator": "equals", "expression": "usa"}],
        }
    ]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (  # the grain the staging models rely on
            "ga4:\n  - table: ga4_pages\n    dimensions: [date, pagePath]\n"
            "    metrics: [screenPageViews, sessions, engagedSessions, keyEvents]\n",
            ["table ga4_pages", "dimensions must stay"],
        ),
        (
            "ga4:\n  - table: ga4_pages\n    dimensions: [date, pagePath, pageTitle]\n"
            "    metrics: [sessions]\n",
            ["table ga4_pages", "metrics must keep", "screenPageViews"],
        ),
        (
            "ga4:\n  - table: mine\n    dimensions: [pagePath]\n    metrics: [sessions]\n",
            ["ga4[0] (table mine)", "dimensions", "must include `date`"],
        ),
        (
            "ga4:\n  - table: mine\n    dimensions: [date]\n    metrics: [sessions]\n"
            "    dimension_filter: {filtr: {}}\n",
            ["ga4[0] (table mine)", "dimension_filter", "no field named"],
        ),
        (
            "search_console:\n  - table: gsc_us\n    dimensions: [date, query]\n"
            "    dimension_filter_groups: [{filters: [{dimension: city, expression: x}]}]\n",
            ["search_console[0] (table gsc_us)", "dimension_filter_groups.0.filters.0.dimension"],
        ),
        ("bing:\n  - table: x\n", ["expected a mapping with sections"]),
        ("ga4: [\n", ["unreadable YAML"]),
    ],
)
def test_an_invalid_file_fails_with_file_entry_and_field(
    tmp_path: Path, text: str, names: list[str]
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ReportFileError) as raised:
        load_reports(path)
    message = str(raised.value)
    assert message.startswith(f"FLYWHEEL_REPORTS_FILE: {path}")
    for name in names:
        assert name in message
    assert "\n" not in message


def test_the_setting_must_name_an_existing_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_REPORTS_FILE", "/no/such/reports.yaml")
    with pytest.raises(SettingsError, match=r"^FLYWHEEL_REPORTS_FILE: "):
        load_settings()


def test_custom_reports_become_assets_in_live_mode_only(tmp_path: Path) -> None:
    path = _write(tmp_path, ORGANIC_ONLY)
    live = load_settings(flywheel_home=tmp_path, ga4_property_id="1", flywheel_reports_file=path)
    demo = load_settings(flywheel_home=tmp_path, flywheel_source="demo", flywheel_reports_file=path)

    def raw_tables(settings) -> set[str]:
        keys = [key for asset in source_defs(settings).assets for key in asset.keys]
        return {k.path[1] for k in keys if k.path[1].startswith(("ga4_", "gsc_"))}

    assert "ga4_country_daily" in raw_tables(live) and "ga4_events" not in raw_tables(live)
    assert "ga4_country_daily" not in raw_tables(demo)  # the simulator serves the defaults


def test_filters_reach_the_apis(tmp_path: Path) -> None:
    reports = load_reports(_write(tmp_path, ORGANIC_ONLY))
    with FakeGa4Server(max_requests=50, lifetime_seconds=30) as server:
        server.add_property("42", rows_per_day=3, seed=1)
        client = LiveGa4Client(
            "42", api_endpoint=server.url, retry=RetryPolicy(initial=0.01, deadline=2)
        )
        list(client.pages(reports.ga4[0], date(2026, 1, 1), date(2026, 1, 2)))
        sent = server.requests[0].body
    assert sent["dimensionFilter"]["filter"]["fieldName"] == "sessionMedium"
    assert sent["dimensionFilter"]["filter"]["stringFilter"]["value"] == "organic"

    fake = FakeSearchConsole(FakeDataset(total_rows=10), max_requests=10, lifetime=30).start()
    try:
        client = LiveSearchConsoleClient("sc-domain:example.com", api_endpoint=fake.endpoint)
        [gsc] = reports.search_console
        list(client.pages(gsc, date(2026, 1, 1), date(2026, 1, 2)))
        body = fake.requests[0]["body"]
    finally:
        fake.stop()
    assert body["type"] == "web"
    assert body["dimensionFilterGroups"][0]["filters"][0]["expression"] == "usa"
