"""The HTML report: the search opportunities section (SPEC §8 "opportunities")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from flywheel_pipeline.insights.search_opportunities import CURVE_COLUMNS, OPPORTUNITY_COLUMNS
from flywheel_pipeline.operations.report import INSIGHT_INPUTS, render_report, report_asset
from flywheel_pipeline.warehouse import connect, replace_table

THROUGH = dt.date(2026, 9, 30)


def _curve(impressions: int) -> pd.DataFrame:
    positions = range(1, 21)
    return pd.DataFrame(
        {
            "position": list(positions),
            "expected_ctr": [0.25 / p for p in positions],
            "prior_ctr": [0.28 / p for p in positions],
            "impressions": [impressions] * 20,
            "data_through": THROUGH,
        },
        columns=CURVE_COLUMNS,
    )


def _opportunity(query: str, kind: str, gain: float, position: float) -> dict:
    return {
        "query": query,
        "page": f"https://shop.example/p/{query.replace(' ', '-')}",
        "opportunity_type": kind,
        "impressions_28d": 5_000,
        "clicks_28d": 40,
        "ctr": 0.008,
        "avg_position": position,
        "expected_ctr": 0.05,
        "target_position": 3 if kind == "striking_distance" else None,
        "estimated_click_gain_28d": gain,
        "p_value": None if kind == "striking_distance" else 1e-6,
        "data_through": THROUGH,
    }


def _render(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    with connect(tmp_path / "w.duckdb") as conn:
        for relation, frame in tables.items():
            replace_table(conn, relation, frame)
        path = render_report(conn, tmp_path / "reports" / "flywheel.html")
    return path.read_text(encoding="utf-8")


def test_top_opportunities_and_the_curve_against_the_prior_are_shown(tmp_path: Path) -> None:
    rows = [_opportunity(f"query {i}", "striking_distance", 100.0 + i, 7.5) for i in range(20)]
    rows += [
        _opportunity("wool <beanie>", "ctr_underperformer", 999.6, 2.2),
        _opportunity("query 0", "ctr_underperformer", 900.0, 7.5),  # both kinds: counted once
        _opportunity("zero clicks", "ctr_underperformer", 50.0, 3.0)
        | {"clicks_28d": 0, "ctr": 0.0},
    ]
    found = pd.DataFrame(rows, columns=OPPORTUNITY_COLUMNS)
    html = _render(
        tmp_path, {"ml.search_ctr_curve": _curve(1_000), "ml.search_opportunities": found}
    )

    section = html[html.index("Attract: search opportunities") :]
    section = section[: section.index("<h2>")]
    # the biggest gain first, escaped, with the page as a path and the gain rounded
    table = section[section.index("<table") :]
    assert table.index("wool &lt;beanie&gt;") < table.index("query 19") < table.index("query 7")
    assert "<beanie>" not in html
    assert "/p/wool-&lt;beanie&gt;" in table and "https://shop.example" not in table
    assert ">1000<" in table and "est. extra clicks (28d)" in table
    assert "query 6<" not in table  # the top 15 only
    assert "3 CTR under-performers" in section and "20 striking-distance" in section
    total = sum(100.0 + i for i in range(1, 20)) + 900.0 + 999.6 + 50.0
    assert f"about {total:,.0f} more clicks" in section
    # one chart: the site's curve, the public prior and the opportunities as points
    assert section.count("Plotly.newPlot") == 1
    for trace in ("this site", "public prior", "ctr_underperformer", "striking_distance"):
        assert trace in section
    assert "public prior serves" not in section
    assert html.count("* plotly.js v") == 1  # inlined once: the file opens offline


def test_a_cold_start_and_an_unbuilt_warehouse_say_so(tmp_path: Path) -> None:
    empty = pd.DataFrame(columns=OPPORTUNITY_COLUMNS)
    cold = _render(tmp_path, {"ml.search_ctr_curve": _curve(0), "ml.search_opportunities": empty})
    assert "the public prior serves" in cold
    assert "No query-page is below the curve" in cold

    unbuilt = _render(tmp_path / "unbuilt", {})
    assert "No Search Console data modelled yet" in unbuilt


def test_the_report_waits_for_the_insight_tables_it_reads() -> None:
    mart = dg.AssetKey(["attract", "channel_daily"])
    [spec] = report_asset([mart]).specs
    assert {dep.asset_key for dep in spec.deps} == {mart, *INSIGHT_INPUTS}


def test_model_quality_says_which_metrics_beat_their_baseline(tmp_path: Path) -> None:
    runs = pd.DataFrame(
        {
            "model": ["search_ctr_curve", "search_ctr_curve"],
            "metric": ["ctr_mae_weighted", "cold_start"],
            "value": [0.0102, 0.0],
            "baseline_value": [0.0166, None],
            "beats_baseline": pd.array([True, None], dtype="boolean"),
            "data_through": THROUGH,
        }
    )
    html = _render(tmp_path, {"flywheel.model_runs": runs})
    table = html[html.index("Model quality") :]
    assert "<td>yes</td>" in table and "&lt;NA&gt;" not in table
