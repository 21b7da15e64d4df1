"""The report in a real browser: headless Chromium opens it with the network cut off, logs
nothing to the console and draws every chart the page declares; a screenshot of the top of
the page is saved with the test's output.

Chromium is optional on a laptop (the tests skip without it) but not in CI (`CI` set: they
fail, and .ci/run installs it)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from flywheel_pipeline.insights.search_opportunities import OPPORTUNITY_COLUMNS
from tests.test_report import (
    THROUGH,
    _curve,
    _opportunity,
    _planted_outcomes,
    _render,
    overview_tables,
    stages_daily,
)

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# funnel, channels, topics, search curve, outcomes, quality over time, loop (3)
CHARTS_OF_EVERY_SECTION = 9
_DIV = re.compile(r'<div id="[^"]+" class="plotly-graph-div')


@dataclass(frozen=True)
class Opened:
    declared: int  # chart divs in the file
    drawn: int  # chart divs Plotly turned into a plot with its SVG
    console: list[str]  # every console message (the page should log none)


def _browser() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found:
        return found
    message = "headless Chromium is needed to open the report (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must have it: .ci/run installs it before `make test`")
    pytest.skip(message)


def _chromium(browser: str, page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    command = [
        browser,
        "--headless",
        "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # no network at view time: a page that fetched its scripts would draw nothing
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        "--window-size=1200,1800",
        "--virtual-time-budget=8000",  # lets Plotly draw before the DOM is read
        *flags,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def open_page(browser: str, page: Path, work: Path) -> Opened:
    declared = len(_DIV.findall(page.read_text(encoding="utf-8")))
    run = _chromium(
        browser, page, work / "profile-dom", "--enable-logging=stderr", "--v=0", "--dump-dom"
    )
    assert run.returncode == 0, run.stderr[-2000:]
    # Plotly marks a div it plotted `js-plotly-plot` and draws into `main-svg` layers
    charts = run.stdout.split('class="plotly-graph-div')[1:]
    drawn = sum(1 for c in charts if c.startswith(" js-plotly-plot") and 'class="main-svg"' in c)
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return Opened(declared, drawn, console)


def screenshot(browser: str, page: Path, work: Path) -> Path:
    shot = work / "report-top.png"
    run = _chromium(browser, page, work / "profile-shot", f"--screenshot={shot}")
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    return shot


def every_section() -> dict[str, pd.DataFrame]:
    """Small tables for every section of the report, so that each of its charts is drawn."""
    opportunities = pd.DataFrame(
        [_opportunity("wool <beanie>", "ctr_underperformer", 900.0, 2.2)]
        + [_opportunity(f"query {i}", "striking_distance", 100.0 + i, 7.5) for i in range(5)],
        columns=OPPORTUNITY_COLUMNS,
    )
    runs = pd.DataFrame(
        {
            "model": ["deal_scoring"] * 2 + ["search_ctr_curve"] * 2,
            "metric": ["auc"] * 2 + ["ctr_mae_weighted"] * 2,
            "value": [0.70, 0.74, 0.012, 0.010],
            "baseline_value": [0.65, 0.66, 0.016, 0.016],
            "beats_baseline": pd.array([True] * 4, dtype="boolean"),
            "metric_kind": ["higher_is_better"] * 2 + ["lower_is_better"] * 2,
            "data_through": [THROUGH - dt.timedelta(days=28), THROUGH] * 2,
        }
    )
    topics = pd.DataFrame(
        {
            "topic_id": [1, 2],
            "label": ["Where is my <parcel>?", "Bulk quote?"],
            "conversations": [500, 120],
            "conversations_28d": [80, 40],
            "conversations_prev_28d": [90, 15],
            "resolution_rate": [0.8, 0.3],
            "rank_volume": [1, 2],
            "rank_rising": [2, 1],
            "is_content_gap": [False, True],
            "best_page": ["/help/delivery", "/collections/workwear"],
            "best_page_similarity": [0.41, 0.08],
        }
    )
    cycles = pd.DataFrame(
        {
            "arm": ["treated", "treated", "control", "control"],
            "cycle": [0, 1, 0, 1],
            "data_through": [THROUGH, THROUGH + dt.timedelta(days=28)] * 2,
            "revenue": [100.0, 130.0, 100.0, 110.0],
            "customers": [10, 14, 10, 11],
            "recommendations_done": [10, 10, 0, 0],
        }
    )
    lift = pd.DataFrame(
        {
            "type": ["follow_up_lead"],
            "outcomes": [3],
            "measured_lift": [0.42],
            "ci_low": [0.1],
            "ci_high": [0.8],
            "planted_lift": [0.5],
            "covering_share": [1.0],
        }
    )
    return {
        **overview_tables(),
        **_planted_outcomes(),
        "flywheel.stages_daily": stages_daily(),
        "ml.search_ctr_curve": _curve(1_000),
        "ml.search_opportunities": opportunities,
        "engage.conversation_topics": topics,
        "flywheel.model_runs": runs,
        "flywheel.simulation_cycles": cycles,
        "flywheel.simulation_lift": lift,
    }


def test_a_broken_page_is_caught(tmp_path: Path) -> None:
    """The check itself: a chart whose script fails is neither drawn nor silent."""
    browser = _browser()
    page = tmp_path / "broken.html"
    page.write_text(
        '<!doctype html><div id="x" class="plotly-graph-div"></div>'
        '<script>Plotly.newPlot("x", [])</script>',
        encoding="utf-8",
    )
    opened = open_page(browser, page, tmp_path)
    assert (opened.declared, opened.drawn) == (1, 0)
    assert any("Plotly is not defined" in line for line in opened.console)


def test_every_chart_draws_offline_with_nothing_on_the_console(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    browser = _browser()
    _render(tmp_path, every_section())
    page = tmp_path / "reports" / "flywheel.html"

    opened = open_page(browser, page, tmp_path)
    shot = screenshot(browser, page, tmp_path)
    print(f"report: {page}\nscreenshot: {shot}")
    record_property("screenshot", str(shot))

    assert opened.console == [], "\n".join(opened.console)
    assert opened.declared == CHARTS_OF_EVERY_SECTION
    assert opened.drawn == opened.declared, f"{opened.drawn} of {opened.declared} charts drawn"
    assert shot.stat().st_size > 20_000  # a blank page is a few kilobytes
