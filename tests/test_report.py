"""The HTML report: the search opportunities, model quality and measured outcomes sections
(SPEC §8)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from flywheel_pipeline.definitions import build_definitions
from flywheel_pipeline.insights._common import SERVED_BY_BASELINE, Serving, model_run_rows
from flywheel_pipeline.insights.search_opportunities import CURVE_COLUMNS, OPPORTUNITY_COLUMNS
from flywheel_pipeline.operations.report import (
    INSIGHT_INPUTS,
    outcome_estimates,
    render_report,
    report_asset,
)
from flywheel_pipeline.operations.report.kpis import Kpi, _change
from flywheel_pipeline.operations.report.page import signed_share
from flywheel_pipeline.recommendations.outcomes import OUTCOME_COLUMNS
from flywheel_pipeline.settings import load_settings
from flywheel_pipeline.sources.source_health import SourceHealth
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


def test_a_change_that_rounds_to_nothing_is_flat() -> None:
    assert _change(Kpi("Leads", 57_423, 57_430, "")) == ("+0.0%", "flat")
    assert _change(Kpi("Sessions", 96, 100, "")) == ("-4.0%", "down")
    assert _change(Kpi("NPS", 18.3, 18.6, "", kind="score")) == ("+0 points", "flat")
    assert _change(Kpi("NPS", 18, 12, "", kind="score")) == ("+6 points", "up")


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
    section = section[: section.index("<h2")]
    # the biggest gain first, escaped, with the page as a path and the gain rounded
    table = section[section.index("<table") :]
    assert table.index("wool &lt;beanie&gt;") < table.index("query 19") < table.index("query 7")
    assert "<beanie>" not in html
    assert "/p/wool-&lt;beanie&gt;" in table and "https://shop.example" not in table
    assert ">1,000<" in table and "est. extra clicks (28d)" in table
    assert "query 6<" not in table  # the top 15 only
    assert "3 CTR under-performers" in section and "20 striking-distance" in section
    total = sum(100.0 + i for i in range(1, 20)) + 900.0 + 999.6 + 50.0
    assert f"about {total:,.0f} more clicks" in section
    # one chart: the site's curve, the public prior and the opportunities as points
    assert section.count("Plotly.newPlot") == 1
    for trace in ("this site", "public prior", "CTR under-performers", "striking distance"):
        assert f'"name":"{trace}"' in section
    assert "public prior serves" not in section
    assert html.count("* plotly.js v") == 1  # inlined once: the file opens offline


def test_a_cold_start_and_an_unbuilt_warehouse_say_so(tmp_path: Path) -> None:
    empty = pd.DataFrame(columns=OPPORTUNITY_COLUMNS)
    runs = model_run_rows(
        "search_ctr_curve",
        THROUGH,
        0,
        0,
        [("cold_start", 1.0, None)],
        Serving(SERVED_BY_BASELINE, "too little data for a site curve: the public prior serves"),
    )
    cold = _render(
        tmp_path,
        {
            "ml.search_ctr_curve": _curve(0),
            "ml.search_opportunities": empty,
            "ml.search_ctr_curve_runs": runs,
        },
    )
    assert "Which curve serves: too little data for a site curve: the public prior serves" in cold
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
            "metric_kind": ["lower_is_better", "descriptive"],
            "data_through": THROUGH,
        }
    )
    html = _render(tmp_path, {"flywheel.model_runs": runs})
    table = html[html.index("Model quality") :]
    assert "<td>yes</td>" in table and "&lt;NA&gt;" not in table


def _outcome(rec_id: str, metric: str, lift: float, low: float, high: float, **extra) -> dict:
    return {
        "recommendation_id": rec_id,
        "metric": metric,
        "baseline_value": 0.04,
        "observed_value": 0.05,
        "control_change": 0.02,
        "estimated_lift": lift,
        "ci_low": low,
        "ci_high": high,
        "n": 12,
        "method": f"difference in differences: {metric} before vs after",
        "measured_at": dt.datetime(2026, 9, 28),
        "higher_is_better": True,
    } | extra


def _planted_outcomes() -> dict[str, pd.DataFrame]:
    """The mart as dbt builds it: the outcomes with their recommendation's type and target."""
    cohort = {
        "n": 40,
        "method": "matched cohort: leads followed up that day",
        "baseline_value": 0.2,
        "observed_value": 0.22,
        "measured_at": dt.datetime(2026, 9, 20),
    }
    rows = [
        (
            "r_title",
            "rewrite_title",
            "query",
            "wool <beanie>",
            _outcome("r_title", "query_ctr", 0.2, 0.05, 0.35),
        ),
        (
            "r_create",
            "create_content",
            "topic",
            "3",
            _outcome(
                "r_create",
                "topic_conversations",
                -0.3,
                -0.5,
                -0.1,
                baseline_value=3.0,
                observed_value=2.1,
                higher_is_better=False,
            ),
        ),
        # written before higher_is_better existed: read as higher is better
        (
            "r_fix",
            "fix_content",
            "topic",
            "5",
            _outcome("r_fix", "topic_resolution_rate", -0.2, -0.35, -0.05, higher_is_better=None),
        ),
        (
            "r_lead1",
            "follow_up_lead",
            "contact",
            "c1",
            _outcome("r_lead1", "conversion_90d", 0.1, -0.2, 0.4, **cohort),
        ),
        (
            "r_lead2",
            "follow_up_lead",
            "contact",
            "c2",
            _outcome("r_lead2", "conversion_90d", 0.1, -0.2, 0.4, **cohort),
        ),
    ]
    frame = pd.DataFrame(
        [
            {**outcome, "type": kind, "target_type": target_type, "target_id": target_id}
            for _, kind, target_type, target_id, outcome in rows
        ],
        columns=[*OUTCOME_COLUMNS, "type", "target_type", "target_id"],
    )
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")
    return {"flywheel.recommendation_outcomes": frame}


def _section(html: str, heading: str) -> str:
    """From the section's heading to the next one (each <h2> carries an id)."""
    section = html[html.index(f">{heading}</h2>") :]
    return section[: section.index("<h2", 1)]


def test_measured_outcomes_show_each_estimate_in_the_direction_meant(tmp_path: Path) -> None:
    html = _render(tmp_path, _planted_outcomes())
    section = _section(html, "Measured outcomes")

    # lower is better flipped: fewer conversations after new content counts as a gain
    assert "5 recommendations measured in 4 estimates" in section
    assert "2 better, 1 worse" in section and "1 inconclusive" in section
    assert section.count("Plotly.newPlot") == 1 and "↓" in section
    table = section[section.index("<table") :]
    assert "wool &lt;beanie&gt;" in table and "<beanie>" not in html
    assert "<td>+20.0% [+5.0%, +35.0%]</td>" in table
    assert "topic_conversations (lower is better)" in table
    assert "<td>3.00 → 2.10 a day</td>" in table and "<td>4.0% → 5.0%</td>" in table
    assert "<td>+2.0%</td>" in table  # control change
    assert "<td>matched cohort</td>" in table and "<td>difference in differences</td>" in table
    # the full method once per type, under the table
    assert "follow_up_lead: matched cohort: leads followed up that day." in section
    # latest measured first
    assert table.index("wool &lt;beanie&gt;") < table.index("contact c1")


def test_a_cohort_is_one_estimate_and_lower_is_better_is_flipped() -> None:
    points = outcome_estimates(_planted_outcomes()["flywheel.recommendation_outcomes"])
    by_type = points.set_index("type")
    assert len(points) == 4
    assert by_type.loc["follow_up_lead", "target"] == "2 contacts"
    assert by_type.loc["follow_up_lead", "recommendations"] == 2
    created = by_type.loc["create_content"]
    assert (created["better"], created["better_low"], created["better_high"]) == (0.3, 0.1, 0.5)
    fixed = by_type.loc["fix_content"]
    assert (fixed["better"], fixed["better_low"], fixed["better_high"]) == (-0.2, -0.35, -0.05)


def test_without_measured_outcomes_the_report_says_how_they_appear(tmp_path: Path) -> None:
    empty = _planted_outcomes()["flywheel.recommendation_outcomes"].iloc[:0]
    for name, tables in {
        "unbuilt": {},
        "empty": {"flywheel.recommendation_outcomes": empty},
    }.items():
        section = _section(_render(tmp_path / name, tables), "Measured outcomes")
        assert "No outcomes measured yet" in section
        assert "marked done in the decisions folder" in section
        assert "28 days for titles, content and budget shifts, 90 days for leads" in section
        assert "Plotly.newPlot" not in section and "<table" not in section


def test_the_report_waits_for_the_outcomes_mart(
    tmp_path: Path, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    defs = build_definitions(load_settings(flywheel_home=tmp_path, flywheel_source="demo"))
    [report] = [
        spec
        for spec in defs.resolve_all_asset_specs()
        if spec.key == dg.AssetKey(["reports", "flywheel_html"])
    ]
    assert dg.AssetKey(["flywheel", "recommendation_outcomes"]) in {
        d.asset_key for d in report.deps
    }


def test_model_quality_over_time_is_drawn_once_there_are_two_runs(tmp_path: Path) -> None:
    runs = pd.DataFrame(
        {
            "model": ["deal_scoring"] * 2,
            "metric": ["auc"] * 2,
            "value": [0.70, 0.74],
            "baseline_value": [0.65, 0.66],
            "beats_baseline": pd.array([True, True], dtype="boolean"),
            "metric_kind": ["higher_is_better"] * 2,
            "served_by": ["model"] * 2,
            "serving_reason": ["holdout auc: model 0.7400 beats baseline 0.6600"] * 2,
            "data_through": [THROUGH - dt.timedelta(days=28), THROUGH],
        }
    )
    html = _render(tmp_path, {"flywheel.model_runs": runs})
    section = html[html.index("Model quality") :]
    assert "Holdout quality run after run" in section
    assert "deal_scoring: holdout auc: model 0.7400 beats baseline 0.6600." in section
    # the table shows the latest run only
    assert "0.74" in section and "<td>0.7</td>" not in section


def test_topics_show_the_most_common_the_fastest_rising_and_the_gaps(tmp_path: Path) -> None:
    topics = pd.DataFrame(
        {
            "topic_id": [1, 2, 3],
            "label": ["Where is my parcel? (parcel)", "Bulk quote? (quote)", "Gift card? (gift)"],
            "conversations": [500, 120, 80],
            "conversations_28d": [80, 40, 10],
            "conversations_prev_28d": [90, 15, 10],
            "resolution_rate": [0.8, 0.3, 0.9],
            "rank_volume": [1, 2, 3],
            "rank_rising": [3, 1, 2],
            "is_content_gap": [False, True, False],
            "best_page": ["/help/delivery", "/collections/workwear", "/help/gift-cards"],
            "best_page_similarity": [0.41, 0.08, 0.52],
        }
    )
    html = _render(tmp_path, {"engage.conversation_topics": topics})
    section = html[html.index("what customers ask about") :]
    rising = section[section.index("Fastest rising") :]
    assert rising.index("Bulk quote?") < rising.index("Gift card?") < rising.index("parcel")
    gaps = section[section.index("Content gaps") :]
    assert "/collections/workwear" in gaps and "/help/delivery" not in gaps


def test_the_loop_section_shows_the_arms_and_measured_against_planted_lift(tmp_path: Path) -> None:
    assert "Loop:" not in _render(tmp_path / "none", {})  # only after `flywheel simulate`
    cycles = pd.DataFrame(
        {
            "arm": ["treated", "treated", "control", "control"],
            "cycle": [0, 1, 0, 1],
            "data_through": pd.to_datetime(["2026-09-30", "2026-10-28"] * 2).date,
            "revenue": [100.0, 130.0, 100.0, 110.0],
            "customers": [10, 14, 10, 11],
            "recommendations_done": [10, 10, 0, 0],
        }
    )
    lift = pd.DataFrame(
        {
            "type": ["follow_up_lead", "fix_content"],
            "outcomes": [3, 2],
            "measured_lift": [0.42, 0.01],
            "ci_low": [0.1, -0.1],
            "ci_high": [0.8, 0.12],
            "planted_lift": [0.5, 0.0],
            "covering_share": [1.0, 1.0],
            "significant_share": [0.67, 0.0],
        }
    )
    html = _render(
        tmp_path / "sim",
        {"flywheel.simulation_cycles": cycles, "flywheel.simulation_lift": lift},
    )
    section = _section(html, "Loop: recommend, act, measure (flywheel simulate)")
    assert "1 cycle after the history" in section and "(20 in all)" in section
    assert section.count("Plotly.newPlot") == 3  # revenue, customers, measured vs planted
    assert "follow_up_lead" in section and "0.42" in section and "planted" in section
    table = section[section.index("<table") :]
    assert "<td>+42.0%</td>" in table and "<td>+10.0% to +80.0%</td>" in table


def overview_tables() -> dict[str, pd.DataFrame]:
    """56 days of two channels (the last 28 with twice the sessions), two NPS months, the
    latest momentum row and seven recommendations, two of them no longer open."""
    days = pd.date_range(end=THROUGH, periods=56).date
    channels = pd.DataFrame(
        [
            {
                "date": day,
                "channel_group": channel,
                "sessions": 20 if i >= 28 else 10,
                "leads": 2 if i >= 28 else 4,
                "customers_acquired": 1,
                "revenue": 100.0,
            }
            for i, day in enumerate(days)
            for channel in ("Direct", "Email")
        ]
    )
    nps = pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-08-01", "2026-09-01"]),
            "responses": [40, 50],
            "nps": [10.0, 22.0],
        }
    )
    momentum = pd.DataFrame(
        {
            "period_type": ["month"],
            "period_start": [dt.date(2026, 9, 1)],
            "period_end": [THROUGH],
            "strangers": [900],
            "prospects": [90],
            "customers": [30],
            "promoters": [3],
            "phase": ["acceleration"],
            "data_days": [180],
            "customers_total": [400],
            "customers_28d": [56],
            "customers_previous_28d": [40],
            "outcome_estimates_84d": [2],
            "proven_estimates_84d": [1],
        }
    )
    statuses = ["rejected", "proposed", "done", "accepted", "proposed", "proposed", "proposed"]
    recommendations = pd.DataFrame(
        {
            "recommendation_id": [f"rec_{i}" for i in range(7)],
            "priority": range(1, 8),
            "type": ["rewrite_title"] * 7,
            "action": [f"Action {i} <b>now</b>" for i in range(7)],
            "expected_impact": [1000.0 - i for i in range(7)],
            "impact_unit": ["extra clicks per 28 days"] * 7,
            "confidence": [0.5] * 7,
            "status": statuses,
        }
    )
    return {
        "attract.channel_daily": channels,
        "advocate.nps_monthly": nps,
        "flywheel.momentum": momentum,
        "flywheel.recommendations": recommendations,
    }


def test_the_page_opens_on_kpis_phase_and_the_five_open_actions(tmp_path: Path) -> None:
    html = _render(tmp_path, overview_tables())
    top = _section(html, "How the wheel is doing")
    # nothing is drawn before the overview: the first thing a reader sees are the numbers
    assert html.index("How the wheel is doing") < html.index("Plotly.newPlot")
    assert "2026-09-03 to 2026-09-30" in top
    cards = dict(re.findall(r"<div class='label'>([^<]+)</div><div class='value'>([^<]+)", top))
    assert cards == {
        "Sessions": "1,120",  # 2 channels x 28 days x 20
        "Leads": "112",
        "New customers": "56",
        "Revenue (shop currency)": "5,600",
        "NPS": "+22",
    }
    assert "▲ +100.0%" in top and "▼ -50.0%" in top and "▲ +12 points" in top
    assert "Phase: acceleration" in top
    assert "56 new customers in the last 28 days vs 40 before (+40%)" in top
    assert "1 of 2 actions measured in the last 84 days proven to work" in top

    actions = _section(html, "Do now: the top five actions")
    listed = re.findall(r"Action (\d) &lt;b&gt;now&lt;/b&gt;", actions)
    assert listed == ["1", "3", "4", "5", "6"]  # open ones only, by priority, escaped
    assert "<b>now</b>" not in html
    assert "<span class='impact'>+999</span>" in actions
    assert "Expected impact in extra clicks per 28 days." in actions
    assert "The 5 highest-priority of 5 open recommendations" in actions


def test_an_unconfigured_ga4_is_named_instead_of_a_flat_zero_chart(tmp_path: Path) -> None:
    tables = overview_tables()
    tables["attract.channel_daily"]["sessions"] = 0  # a files-only live run: no GA4
    tmp_path.mkdir(parents=True, exist_ok=True)
    with connect(tmp_path / "w.duckdb") as conn:
        for relation, frame in tables.items():
            replace_table(conn, relation, frame)
        path = render_report(
            conn, tmp_path / "flywheel.html", unconfigured={"GA4": "GA4_PROPERTY_ID unset"}
        )
    html = path.read_text(encoding="utf-8")
    assert "Not configured (skipped): GA4." in html
    assert "GA4 not configured (GA4_PROPERTY_ID unset)" in _section(html, "How the wheel is doing")
    channels = _section(html, "Attract: sessions by channel")
    assert "GA4 is not configured (GA4_PROPERTY_ID unset)" in channels
    assert "Plotly.newPlot" not in channels


def stages_daily() -> pd.DataFrame:
    """60 days of the four stages; prospects convert worse in the last two weeks."""
    days = pd.date_range(end=THROUGH, periods=60).date
    totals = {"stranger": 1000, "prospect": 100, "customer": 20, "promoter": 2}
    rows = []
    for i, day in enumerate(days):
        for stage, total in totals.items():
            # prospects convert to customers worse in the last two weeks: the leak
            late = stage == "customer" and i >= len(days) - 14
            rows.append(
                {
                    "date": day,
                    "stage": stage,
                    "entered": 1,
                    "total": total - (5 if late else 0),
                    "conversion_rate_to_next": None,
                }
            )
    frame = pd.DataFrame(rows)
    ordered = list(totals)
    for stage, following in itertools.pairwise(ordered):
        this = frame["stage"] == stage
        nxt = frame.loc[frame["stage"] == following, "total"].to_numpy()
        frame.loc[this, "conversion_rate_to_next"] = nxt / frame.loc[this, "total"].to_numpy()
    frame["conversion_rate_to_next"] = frame["conversion_rate_to_next"].astype(float)
    return frame


def test_the_funnel_shows_conversion_between_stages_and_where_it_leaks(tmp_path: Path) -> None:
    frame = stages_daily()
    html = _render(tmp_path, {"flywheel.stages_daily": frame})
    section = _section(html, "The wheel: where it leaks")
    assert "Strangers so far" in section and "1,000" in section
    assert "10.0%" in section and "15.0%" in section  # 100/1000, and 15/100 after the leak
    assert "-5.00 pts vs 28 days ago" in section
    leak = section[section.index("leaks most") - 400 : section.index("leaks most")]
    assert "15.0%" in leak
    # weekly points, full weeks only: no daily series, no partial first or latest week
    assert section.count("Plotly.newPlot") == 1
    assert "people entering (log scale)" in section and "entered=" not in section


def test_a_stale_source_gets_a_banner_and_a_note_in_the_sections_built_on_it(
    tmp_path: Path,
) -> None:
    raw = dg.AssetKey(["raw", "gsc_search_analytics"])
    failed = SourceHealth(
        "Search Console",
        raw,
        "failed",
        cause="RefreshError: invalid_grant",
        last_good_load=dt.datetime(2026, 9, 29, 6, 0),
        data_through=THROUGH,
    )
    downstream = {raw: [dg.AssetKey(["attract", "search_queries_daily"]), *INSIGHT_INPUTS]}
    tables = {"ml.search_ctr_curve": _curve(1_000), **overview_tables()}
    tables["ml.search_opportunities"] = pd.DataFrame(columns=OPPORTUNITY_COLUMNS)
    with connect(tmp_path / "w.duckdb") as conn:
        for relation, frame in tables.items():
            replace_table(conn, relation, frame)
        path = render_report(
            conn, tmp_path / "flywheel.html", health=[failed], downstream=downstream
        )
    html = path.read_text(encoding="utf-8")
    banner = html[html.index("<div class='banner'>") : html.index("How the wheel is doing")]
    assert "Search Console: extraction failed in the last run (RefreshError: invalid_grant)" in (
        banner
    )
    assert "through 2026-09-30" in banner and "attract.search_queries_daily" in banner
    search = _section(html, "Attract: search opportunities")
    assert "Built on stale Search Console data" in search
    assert "Built on stale" not in _section(html, "How the wheel is doing")


def test_a_change_that_rounds_to_nothing_reads_plus_zero():
    assert signed_share(0.123) == "+12%" and signed_share(-0.126, 1) == "-12.6%"
    assert signed_share(-0.004) == "+0%" and signed_share(-0.0004, 1) == "+0.0%"
    assert signed_share(-0.006) == "-1%"
