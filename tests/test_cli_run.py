"""`flywheel run` and `flywheel status` as a user runs them: live mode on the examples' HubSpot
and Shopify exports, per-asset progress, then the state of every source."""

from __future__ import annotations

import csv
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flywheel_pipeline.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture
def live_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A live-mode home whose landing folder holds the examples, with its own Dagster
    instance (the project's pool configuration)."""
    home = tmp_path / "home"
    for table, example in (("contacts", "hubspot"), ("orders", "shopify")):
        folder = home / "landing" / "crm" / table
        folder.mkdir(parents=True)
        for export in (EXAMPLES / example).glob("*.csv"):
            shutil.copy(export, folder)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", dagster_home)
    monkeypatch.setenv("FLYWHEEL_HOME", str(home))
    monkeypatch.setenv("FLYWHEEL_SOURCE", "live")
    monkeypatch.setenv("FLYWHEEL_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    return home


def test_days_outside_the_sources_are_refused_before_anything_runs(live_home: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--from", "1999-01-01"])
    assert result.exit_code == 2
    assert "--from" in result.output and "outside the days the sources cover" in result.output
    result = CliRunner().invoke(main, ["run", "--from", "2026-11-20", "--to", "2026-11-10"])
    assert result.exit_code == 2 and "after --to" in result.output
    assert not (live_home / "warehouse").exists()


def _expected_orders() -> tuple[int, float]:
    """Orders and revenue of the Shopify example, read the plain way: a row with a Total
    is an order's first row."""
    with next((EXAMPLES / "shopify").glob("*.csv")).open(newline="") as stream:
        totals = [float(row["Total"]) for row in csv.DictReader(stream) if row["Total"]]
    return len(totals), sum(totals)


@pytest.mark.slow
def test_flywheel_run_on_a_hubspot_and_a_shopify_export_then_status(
    live_home: Path, dbt_manifest: Path
) -> None:
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    orders, revenue = _expected_orders()
    progress = {line.split()[1]: line for line in lines if line.strip().endswith("rows")}
    assert progress["raw/crm_contacts"].split()[-2] == "40"
    assert progress["raw/crm_orders"].split()[-2] == str(orders)
    assert "GA4: not configured (GA4_PROPERTY_ID unset): skipped" in result.output
    assert not any("raw/ga4_" in line for line in lines)  # unconfigured: not run at all
    assert any(line.split()[1:2] == ["flywheel/momentum"] for line in lines if line.strip())

    warehouse = live_home / "warehouse" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        count, total = conn.execute("select count(*), sum(revenue) from raw.crm_orders").fetchone()
        (created,) = conn.execute(
            "select created_at from raw.crm_contacts where contact_id = '61500100'"
        ).fetchone()
        (attached,) = conn.execute(
            "select count(*) from staging.stg_crm__orders where contact_id is not null"
        ).fetchone()
        (leads,) = conn.execute("select count(*) from engage.leads").fetchone()
    assert (count, round(total, 2)) == (orders, round(revenue, 2))
    assert created == datetime(2026, 5, 9, 2, 27)  # 04:27 in Berlin (CEST)
    assert attached == orders - 1  # one buyer is in no contact export
    assert leads == 40

    status = CliRunner().invoke(main, ["status"])
    assert status.exit_code == 0, status.output
    assert "SUCCESS" in status.output and "everything" in status.output
    assert "skipped (GSC_SITE_URL unset)" in status.output
    assert "landing/crm/orders (raw.crm_orders): ok" in status.output
    assert f"crm_orders                  1 file(s),         {orders} rows" in status.output
    assert "Warehouse pool:\n  free" in status.output

    # --select: just the orders again; the unchanged file is not read twice
    again = CliRunner().invoke(main, ["run", "--select", "raw/crm_orders"])
    assert again.exit_code == 0, again.output
    assert "raw/crm_orders" in again.output and "staging/" not in again.output
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.crm_orders").fetchone() == (orders,)
    wrong = CliRunner().invoke(main, ["run", "--select", "raw/crm_order"])
    assert wrong.exit_code == 1 and "--select 'raw/crm_order'" in wrong.output
    unconfigured = CliRunner().invoke(main, ["run", "--select", "raw/ga4_pages"])
    assert unconfigured.exit_code == 1 and "GA4_PROPERTY_ID unset" in unconfigured.output


def test_status_marks_a_stale_source_and_a_rejected_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from flywheel_pipeline.operations import status
    from flywheel_pipeline.settings import load_settings
    from flywheel_pipeline.sources.source_health import SourceHealth

    health = [
        SourceHealth(
            "Search Console",
            dg.AssetKey(["raw", "gsc_search_analytics"]),
            "failed",
            cause="RefreshError: invalid_grant",
            run_id="1a2b3c4d5e",
        ),
        SourceHealth("landing/crm/orders", dg.AssetKey(["raw", "crm_orders"]), "rejected", "x"),
        SourceHealth("landing/crm/deals", dg.AssetKey(["raw", "crm_deals"]), "ok"),
    ]
    monkeypatch.setattr(status, "source_health", lambda instance, settings: health)
    lines = status.source_lines(None, load_settings())
    assert lines[0].startswith("STALE: Search Console (raw.gsc_search_analytics): extraction")
    assert "1a2b3c4d" in lines[0] and "invalid_grant" in lines[0]
    assert lines[1].startswith("FAILED: landing/crm/orders")
    assert lines[2] == "landing/crm/deals (raw.crm_deals): ok"


def test_a_first_run_that_failed_before_the_marts_says_so_without_a_traceback(
    live_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flywheel_pipeline.cli as cli

    warehouse = live_home / "warehouse" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True)
    duckdb.connect(str(warehouse)).close()  # raw loads only: no mart was built
    monkeypatch.setattr(cli, "_run", lambda settings, terminal, **options: False)
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 1, result.output
    assert "(no summary: the marts are not built yet)" in result.output
    assert "the run failed" in result.output
