"""The HTML report: one self-contained page that shows the wheel turning.

Charts are Plotly figures with the library inlined once, so the file opens without network.
"""

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import plotly.express as px

from flywheel_pipeline.insights.runs import latest_run
from flywheel_pipeline.recommendations.outcomes import HORIZON_DAYS, WINDOW_DAYS
from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sources.source_health import (
    SourceHealth,
    describe_last_good,
    extraction_health,
    stale_sources,
)
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, read_relation_if_exists

REPORT_FILE = "flywheel.html"
STAGES = ["stranger", "prospect", "customer", "promoter"]


class _Page:
    """The report being written. `stale` maps a relation to the notes that say what stale
    source data it was built on; a section that reads the relation shows them."""

    def __init__(self, stale: Mapping[str, Sequence[str]] | None = None) -> None:
        self.parts: list[str] = []
        self._plotly_inlined = False
        self.stale = stale or {}
        self._noted: set[str] = set()

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")
        self._noted = set()

    def note(self, text: str) -> None:
        self.parts.append(f"<p class='note'>{html.escape(text)}</p>")

    def read(self, conn: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame | None:
        """The relation (None if it does not exist), saying first, once per section, when it
        was built on a source's stale data."""
        for note in self.stale.get(relation, ()):
            if note not in self._noted:
                self._noted.add(note)
                self.parts.append(f"<p class='stale'>{html.escape(note)}</p>")
        return read_relation_if_exists(conn, relation)

    def figure(self, fig, height: int = 360) -> None:
        fig.update_layout(margin={"l": 40, "r": 20, "t": 40, "b": 40}, height=height)
        include = "inline" if not self._plotly_inlined else False
        self._plotly_inlined = True
        self.parts.append(fig.to_html(full_html=False, include_plotlyjs=include))

    def table(self, frame: pd.DataFrame) -> None:
        self.parts.append(frame.to_html(index=False, classes="data", border=0, escape=True))


def _stages(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("The wheel: people per stage")
    stages_daily = page.read(conn, "flywheel.stages_daily")
    if stages_daily is None or stages_daily.empty:
        page.note("flywheel.stages_daily is not built yet.")
        return
    latest = stages_daily[stages_daily["date"] == stages_daily["date"].max()]
    totals = latest.set_index("stage")["total"].reindex(STAGES).fillna(0).rename_axis("stage")
    # Strangers (anonymous GA4 new users) outnumber customers by orders of magnitude.
    page.figure(
        px.bar(totals.reset_index(name="people so far"), x="stage", y="people so far", log_y=True)
    )
    page.figure(
        px.line(
            stages_daily, x="date", y="entered", color="stage", log_y=True, title="Entered per day"
        )
    )


def _momentum(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Momentum and phase")
    momentum = page.read(conn, "flywheel.momentum")
    if momentum is None or momentum.empty:
        page.note("flywheel.momentum is not built yet.")
        return
    months = momentum[momentum["period_type"] == "month"].sort_values("period_start")
    shown = ["period_key", "strangers", "prospects", "customers", "promoters", "phase"]
    page.table(months[[c for c in shown if c in months.columns]].tail(6))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _loop(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    """`flywheel simulate` only: the wheel turning beside a control arm that did nothing."""
    cycles = page.read(conn, "flywheel.simulation_cycles")
    if cycles is None or cycles.empty:
        return
    page.heading("Loop: recommend, act, measure (flywheel simulate)")
    arms = cycles.sort_values(["arm", "cycle"])
    done = int(arms.loc[arms["arm"] == "treated", "recommendations_done"].sum())
    page.note(
        f"{_plural(int(arms['cycle'].max()), 'cycle')} after the history; the treated arm did "
        "the top "
        f"recommendations of each cycle ({done} in all), the control arm (same business, same "
        "random draws) did nothing."
    )
    for metric, title in (("revenue", "Revenue per cycle"), ("customers", "New customers")):
        page.figure(
            px.line(arms, x="data_through", y=metric, color="arm", markers=True, title=title),
            height=300,
        )
    lift = page.read(conn, "flywheel.simulation_lift")
    if lift is None or lift.empty:
        page.note("No outcome measured yet.")
        return
    lift = lift.assign(
        plus=lift["ci_high"] - lift["measured_lift"], minus=lift["measured_lift"] - lift["ci_low"]
    )
    fig = px.scatter(
        lift,
        x="measured_lift",
        y="type",
        error_x="plus",
        error_x_minus="minus",
        hover_data={"outcomes": True, "plus": False, "minus": False},
        labels={"measured_lift": "lift, 95 % interval", "type": ""},
        title="Measured (pooled over the outcomes of each type) vs planted lift (x)",
    )
    planted = {"symbol": "x", "size": 12, "color": "#d62728"}
    fig.add_scatter(
        x=lift["planted_lift"], y=lift["type"], mode="markers", name="planted", marker=planted
    )
    fig.add_vline(x=0, line_dash="dash", line_color="#777")
    fig.update_xaxes(tickformat=".0%")
    page.figure(fig, height=max(300, 100 + 40 * len(lift)))
    shown = ["type", "outcomes", "measured_lift", "ci_low", "ci_high", "planted_lift"]
    page.table(lift[[*shown, "covering_share"]].round(3))


def _channels(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Attract: sessions by channel")
    channels = page.read(conn, "attract.channel_daily")
    if channels is None or channels.empty:
        page.note("attract.channel_daily is not built yet.")
        return
    weekly = (
        channels.assign(week=pd.to_datetime(channels["date"]).dt.to_period("W").dt.start_time)
        .groupby(["week", "channel_group"], as_index=False)["sessions"]
        .sum()
    )
    page.figure(px.area(weekly, x="week", y="sessions", color="channel_group"))


def _percent(values: pd.Series) -> pd.Series:
    return values.map(lambda v: f"{v:.1%}" if pd.notna(v) else "")


def _search_opportunities(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Attract: search opportunities")
    curve = page.read(conn, "ml.search_ctr_curve")
    found = page.read(conn, "ml.search_opportunities")
    if curve is None or curve.empty or found is None:
        page.note("No Search Console data modelled yet (ml.search_ctr_curve).")
        return
    serving = latest_run(conn, "search_ctr_curve")
    if "serving_reason" in serving and serving["serving_reason"].notna().any():
        page.note(f"Which curve serves: {serving['serving_reason'].dropna().iloc[0]}.")
    lines = curve.melt(
        id_vars="position",
        value_vars=["expected_ctr", "prior_ctr"],
        var_name="curve",
        value_name="ctr",
    ).replace({"curve": {"expected_ctr": "this site", "prior_ctr": "public prior"}})
    # CTR falls ~50-fold from position 1 to 20: a log axis keeps page two readable.
    fig = px.line(
        lines,
        x="position",
        y="ctr",
        color="curve",
        markers=True,
        log_y=True,
        title="Expected CTR by position (query-pages with opportunities as points)",
    )
    for kind, group in found.groupby("opportunity_type"):
        fig.add_scatter(
            x=group["avg_position"],
            y=group["ctr"].where(group["ctr"] > 0),  # a log axis cannot show 0 clicks
            mode="markers",
            name=str(kind),
            text=group["query"],
            hovertemplate="%{text}<br>position %{x:.1f}, CTR %{y:.2%}<extra></extra>",
        )
    page.figure(fig)
    if found.empty:
        page.note("No query-page is below the curve or within striking distance.")
        return
    counts = found["opportunity_type"].value_counts()
    # a query-page can be both types: its larger gain counts once
    gain = found.groupby(["query", "page"])["estimated_click_gain_28d"].max().sum()
    page.note(
        f"{counts.get('ctr_underperformer', 0)} CTR under-performers (clicks well below the "
        f"site's curve: rewrite the title or snippet) and {counts.get('striking_distance', 0)} "
        "striking-distance query-pages (mean position 4-20, gain if they reached position 3 on "
        f"today's impressions, a lower bound): about "
        f"{gain:,.0f} more clicks per 28 days in all, "
        f"data through {found['data_through'].max():%Y-%m-%d}."
    )
    top = found.sort_values("estimated_click_gain_28d", ascending=False).head(15)
    page.table(
        pd.DataFrame(
            {
                "query": top["query"],
                "page": top["page"].str.replace(r"^[a-zA-Z]+://[^/]+", "", regex=True),
                "opportunity": top["opportunity_type"].str.replace("_", " "),
                "position": top["avg_position"].round(1),
                "impressions (28d)": top["impressions_28d"],
                "CTR": _percent(top["ctr"]),
                "expected CTR": _percent(top["expected_ctr"]),
                "est. extra clicks (28d)": top["estimated_click_gain_28d"].round(0).astype(int),
            }
        )
    )


def _topics(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Engage: what customers ask about")
    topics = page.read(conn, "engage.conversation_topics")
    if topics is None or topics.empty:
        page.note("engage.conversation_topics is not built yet.")
        return
    top = topics.sort_values("conversations", ascending=True).tail(15)
    page.figure(px.bar(top, x="conversations", y="label", orientation="h"))
    recent = ["label", "conversations_28d", "conversations_prev_28d", "resolution_rate"]
    for title, rank in (("Most common", "rank_volume"), ("Fastest rising", "rank_rising")):
        if rank in topics:
            page.note(f"{title} in the last 28 days:")
            page.table(topics.sort_values(rank)[recent].head(5).round({"resolution_rate": 2}))
    gaps = topics[topics["is_content_gap"].fillna(False).astype(bool)]
    if gaps.empty:
        page.note("No content gap: a page of the site answers every high-volume topic.")
        return
    page.note("Content gaps: no page of the site answers these topics.")
    closest = ["label", "conversations", "best_page", "best_page_similarity"]
    page.table(gaps[[c for c in closest if c in gaps]].round({"best_page_similarity": 2}))


def _recommendations(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Recommendations")
    recommendations = page.read(conn, "flywheel.recommendations")
    if recommendations is None or recommendations.empty:
        page.note("No recommendations yet.")
        return
    columns = ["priority", "type", "action", "expected_impact", "impact_unit", "status"]
    top = recommendations.sort_values("priority")[columns].head(20)
    page.table(top.assign(expected_impact=top["expected_impact"].round(0)))


# Outcome metrics that are counts (with their unit), not rates: every other metric is a rate
# and reads best as a percentage.
_COUNT_METRICS = {"topic_conversations": "a day"}
# Enough to see the latest cycles; older estimates stay in the mart.
_SHOWN_ESTIMATES = 40
_SHOWN_OUTCOMES = 40
_ESTIMATE_KEYS = ["type", "metric", "measured_at", "estimated_lift", "ci_low", "ci_high", "n"]


def _value(metric: str, value: float) -> str:
    if pd.isna(value):
        return ""
    return f"{value:,.2f}" if metric in _COUNT_METRICS else f"{value:.1%}"


def _before_after(metric: str, baseline: float, observed: float) -> str:
    unit = _COUNT_METRICS.get(metric)
    change = f"{_value(metric, baseline)} → {_value(metric, observed)}"
    return f"{change} {unit}" if unit else change


def _signed(value: float) -> str:
    return f"{value:+.1%}" if pd.notna(value) else ""


def _with_targets(outcomes: pd.DataFrame) -> pd.DataFrame:
    # a null higher_is_better comes from an outcome table written before the column existed:
    # higher is better, as flywheel.momentum reads it
    higher = outcomes["higher_is_better"].astype("boolean").fillna(True).astype(bool)
    # the mart left-joins the recommendations: an outcome can outlive its recommendation
    target = (
        outcomes["target_type"].fillna("") + " " + outcomes["target_id"].fillna("")
    ).str.strip()
    return outcomes.assign(
        type=outcomes["type"].fillna("unknown"),
        target=target.mask(target == "", outcomes["recommendation_id"]),
        higher_is_better=higher,
        measured_at=pd.to_datetime(outcomes["measured_at"]),
    )


def outcome_estimates(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One point per estimate of flywheel.recommendation_outcomes, with ``better``,
    ``better_low`` and ``better_high``: the lift and its interval in the direction the action
    was meant to move the metric (sign flipped where lower is better), so right of zero is
    always good. A matched cohort (every lead or deal acted on the same day carries the
    cohort's estimate) is one point, not one per target."""
    rows = _with_targets(outcomes)
    points = (
        rows.groupby([*_ESTIMATE_KEYS, "higher_is_better"], dropna=False, sort=False)
        .agg(
            targets=("target", "size"),
            target=("target", "first"),
            target_type=("target_type", "first"),
            recommendations=("recommendation_id", "nunique"),
        )
        .reset_index()
    )
    cohort = points["targets"] > 1
    points["target"] = points["target"].mask(
        cohort, points["targets"].astype(str) + " " + points["target_type"].fillna("target") + "s"
    )
    sign = points["higher_is_better"].map({True: 1.0, False: -1.0})
    low, high = points["ci_low"] * sign, points["ci_high"] * sign
    points = points.assign(
        better=points["estimated_lift"] * sign,
        better_low=low.where(sign > 0, high),
        better_high=high.where(sign > 0, low),
    )
    return points.sort_values(["type", "measured_at", "target"], ignore_index=True)


def _forest(page: _Page, points: pd.DataFrame) -> None:
    shown = points.sort_values("measured_at").tail(_SHOWN_ESTIMATES)
    shown = shown.sort_values(["type", "measured_at", "target"], ignore_index=True)
    # Plotly reads tick labels as HTML: a query such as "<beanie>" would vanish unescaped
    label = (
        shown["target"].str.slice(0, 40).map(html.escape)
        + shown["higher_is_better"].map({True: "", False: " ↓"})
        + " · "
        + shown["measured_at"].dt.strftime("%Y-%m-%d")
    )
    # the same target measured twice on one day would otherwise share a row of the chart
    repeat = label.groupby(label).cumcount()
    label = label.where(repeat == 0, label + " #" + (repeat + 1).astype(str))
    shown = shown.assign(
        label=label,
        lift=shown["estimated_lift"].map(_signed),
        plus=shown["better_high"] - shown["better"],
        minus=shown["better"] - shown["better_low"],
    )
    fig = px.scatter(
        shown,
        x="better",
        y="label",
        color="type",
        error_x="plus",
        error_x_minus="minus",
        hover_data={"metric": True, "lift": True, "n": True, "plus": False, "minus": False},
        labels={
            "better": "lift in the intended direction, 95 % interval (right of 0 = better)",
            "label": "",
            "lift": "estimated lift",
        },
        title="Estimated lift per measured recommendation (↓ lower is better: sign flipped)",
    )
    fig.add_vline(x=0, line_dash="dash", line_color="#777")
    # the first row at the top, the way the table reads
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(shown["label"])))
    fig.update_xaxes(tickformat=".0%")
    page.figure(fig, height=max(360, 120 + 24 * len(shown)))


def _outcomes(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Measured outcomes")
    outcomes = page.read(conn, "flywheel.recommendation_outcomes")
    if outcomes is None or outcomes.empty:
        page.note(
            "No outcomes measured yet. A recommendation marked done in the decisions folder "
            "($FLYWHEEL_LANDING_DIR/decisions/*.csv, status done) is measured against "
            "comparable untouched targets once its window after done_at has passed in the "
            f"data: {WINDOW_DAYS} days for titles, content and budget shifts, {HORIZON_DAYS} "
            "days for leads and deals (against the list's random holdout), "
            f"{2 * WINDOW_DAYS} days for re-engaged customers and referral requests."
        )
        return
    points = outcome_estimates(outcomes)
    better = int((points["better_low"] > 0).sum())
    worse = int((points["better_high"] < 0).sum())
    page.note(
        f"{outcomes['recommendation_id'].nunique()} recommendations measured in {len(points)} "
        "estimates (leads or deals acted on the same day are one matched cohort): "
        f"{better} better, {worse} worse (the 95 % interval wholly on that side of zero), "
        f"{len(points) - better - worse} inconclusive."
    )
    _forest(page, points)
    rows = _with_targets(outcomes).sort_values(
        ["measured_at", "type", "target"], ascending=[False, True, True]
    )
    top = rows.head(_SHOWN_OUTCOMES)
    lower = top["higher_is_better"].map({True: "", False: " (lower is better)"})
    page.table(
        pd.DataFrame(
            {
                "type": top["type"],
                "target": top["target"],
                "metric": top["metric"] + lower,
                "baseline → observed": [
                    _before_after(*values)
                    for values in zip(
                        top["metric"], top["baseline_value"], top["observed_value"], strict=True
                    )
                ],
                "control change": top["control_change"].map(_signed),
                "lift [95 % CI]": [
                    f"{_signed(lift)} [{_signed(low)}, {_signed(high)}]"
                    for lift, low, high in zip(
                        top["estimated_lift"], top["ci_low"], top["ci_high"], strict=True
                    )
                ],
                "n": top["n"],
                "method": top["method"].str.split(":").str[0],
                "measured": top["measured_at"].dt.strftime("%Y-%m-%d"),
            }
        )
    )
    if len(rows) > len(top):
        page.note(f"The {len(top)} latest of {len(rows)} measured outcomes.")
    methods = rows.drop_duplicates("type").sort_values("type")
    for kind, method in zip(methods["type"], methods["method"], strict=True):
        page.note(f"{kind}: {method}.")


def _model_runs(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Model quality (holdout metric beside a naive baseline)")
    runs = page.read(conn, "flywheel.model_runs")
    if runs is None or runs.empty:
        page.note("No model runs yet.")
        return
    latest = runs[runs["data_through"] == runs.groupby("model")["data_through"].transform("max")]
    columns = ["model", "metric", "value", "baseline_value", "beats_baseline", "served_by"]
    shown = latest[[c for c in columns if c in latest.columns]]
    if "beats_baseline" in shown:  # null for counts and flags, which beat nothing
        verdict = shown["beats_baseline"].map({True: "yes", False: "no"})
        shown = shown.assign(beats_baseline=verdict.fillna(""))
    page.table(shown.round({"value": 3, "baseline_value": 3}).fillna(""))
    if "serving_reason" in latest:
        reasons = latest.dropna(subset=["serving_reason"]).drop_duplicates("model")
        for row in reasons.itertuples():
            page.note(f"{row.model}: {row.serving_reason}.")
    quality = runs[runs["metric_kind"].isin(["higher_is_better", "lower_is_better"])]
    if quality["data_through"].nunique() > 1:
        page.figure(
            px.line(
                quality.sort_values("data_through"),
                x="data_through",
                y="value",
                color="model",
                line_dash="metric",
                markers=True,
                title="Holdout quality run after run",
            )
        )


def _evaluation(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    """Demo only: `flywheel evaluate` scores the published models against planted truths."""
    evaluation = page.read(conn, "flywheel.model_evaluation")
    if evaluation is None or evaluation.empty:
        return
    latest = evaluation[evaluation["data_through"] == evaluation["data_through"].max()]
    first = latest.iloc[0]
    page.heading("Demo: every model against the planted truths")
    judged = latest["passed"].dropna()
    page.note(
        f"Seed {first['seed']}, scale {first['scale']:g}, "
        f"data through {pd.Timestamp(first['data_through']):%Y-%m-%d}: "
        f"{int(judged.sum())} of {len(judged)} targets met."
    )
    page.table(
        latest[["model", "metric", "value", "comparator", "target", "passed"]]
        .assign(passed=latest["passed"].map({True: "yes", False: "NO"}))
        .round({"value": 3, "target": 3})
        .fillna("")
    )


SECTIONS = (
    _stages,
    _momentum,
    _loop,
    _channels,
    _search_opportunities,
    _topics,
    _recommendations,
    _outcomes,
    _model_runs,
    _evaluation,
)
# Insight tables the report reads although no mart carries them (SPEC §5 names no search
# mart): the report asset depends on them besides the marts.
INSIGHT_INPUTS = [
    dg.AssetKey(["ml", "search_opportunities"]),
    dg.AssetKey(["ml", "search_ctr_curve"]),
]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{margin-bottom:0}.note{color:#777}
table.data{border-collapse:collapse;font-size:.85rem;margin:1rem 0}
table.data td,table.data th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}
.banner{background:#fdecea;border:1px solid #d93025;border-radius:4px;padding:.6rem 1rem;
margin:1rem 0}.banner p{margin:.3rem 0}
.stale{color:#b3261e;font-size:.9rem}
"""
_LISTED_DEPENDANTS = 12
_INNER_SCHEMAS = {"raw", "staging", "intermediate"}


def _relation(key: dg.AssetKey) -> str:
    return ".".join(key.path)


def _stale_lines(
    health: Sequence[SourceHealth], downstream: Mapping[dg.AssetKey, Sequence[dg.AssetKey]]
) -> tuple[list[str], dict[str, list[str]]]:
    """The banner's lines (one per failed source) and, per relation built on a failed
    source's data, the note its section shows."""
    banner: list[str] = []
    stale: dict[str, list[str]] = {}
    for source, entries in stale_sources(health).items():
        loaded = [e.last_good_load for e in entries if e.last_good_load is not None]
        through = [e.data_through for e in entries if e.data_through is not None]
        as_of = describe_last_good(
            min(loaded) if len(loaded) == len(entries) else None,
            min(through) if through else None,
        )
        dependants = sorted(
            {_relation(k) for e in entries for k in downstream.get(e.asset_key, ())}
            - {e.table for e in entries}
        )
        # What a reader knows by name: the marts and the insight tables, not the layers below.
        shown = [r for r in dependants if r.split(".")[0] not in _INNER_SCHEMAS]
        line = f"{source}: extraction failed in the last run ({entries[0].cause}); {as_of}."
        if shown:
            listed = ", ".join(shown[:_LISTED_DEPENDANTS])
            more = len(shown) - _LISTED_DEPENDANTS
            line += f" Built on that data: {listed}" + (f" and {more} more." if more > 0 else ".")
        banner.append(line)
        note = f"Built on stale {source} data ({as_of}): the last run's extraction failed."
        for relation in dependants:
            stale.setdefault(relation, []).append(note)
    return banner, stale


def _banner(lines: Sequence[str], skipped: Sequence[str]) -> str:
    parts = []
    if lines:
        parts.append(
            "<div class='banner'><p><strong>Stale sources</strong></p>"
            + "".join(f"<p>{html.escape(line)}</p>" for line in lines)
            + "</div>"
        )
    if skipped:
        parts.append(
            f"<p class='note'>Not configured (skipped): {html.escape(', '.join(skipped))}.</p>"
        )
    return "".join(parts)


def render_report(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    health: Sequence[SourceHealth] = (),
    downstream: Mapping[dg.AssetKey, Sequence[dg.AssetKey]] | None = None,
) -> Path:
    """Write the report. `health`: the sources' health (sources/source_health.py); a failed
    source gets a banner at the top, and every section built on its data (`downstream`: the
    assets downstream of each raw asset) says so."""
    banner, stale = _stale_lines(health, downstream or {})
    skipped = sorted({e.source for e in health if e.status == "skipped"})
    page = _Page(stale)
    for section in SECTIONS:
        section(page, conn)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    document = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Flywheel</title>"
        f"<style>{_STYLE}</style></head><body><h1>Flywheel</h1>"
        f"<p class='note'>Generated {generated}</p>{_banner(banner, skipped)}"
        f"{''.join(page.parts)}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(document, encoding="utf-8")
    partial.replace(path)
    return path


def report_asset(
    upstream: list[dg.AssetKey],
    sources: Sequence[tuple[str, dg.AssetKey]] = (),
    downstream: Mapping[dg.AssetKey, Sequence[dg.AssetKey]] | None = None,
) -> dg.AssetsDefinition:
    """`sources`: (label, raw asset key) of the extracted sources whose failure the report
    flags; `downstream`: the assets built on each of them."""

    @dg.asset(
        key=["reports", "flywheel_html"],
        group_name="flywheel",
        kinds={"html", "plotly"},
        pool=WAREHOUSE_POOL,
        deps=[*upstream, *INSIGHT_INPUTS],
        description="Self-contained HTML report ($FLYWHEEL_HOME/reports/flywheel.html).",
    )
    def flywheel_html(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, paths: FlywheelPaths
    ) -> dg.MaterializeResult:
        health = [extraction_health(context.instance, key, label) for label, key in sources]
        with warehouse.get_connection() as conn:
            path = render_report(
                conn,
                Path(paths.reports_dir) / REPORT_FILE,
                health=health,
                downstream=downstream,
            )
        metadata: dict[str, object] = {"path": dg.MetadataValue.path(str(path))}
        stale = stale_sources(health)
        if stale:
            metadata["flywheel/stale_sources"] = ", ".join(stale)
        return dg.MaterializeResult(metadata=metadata)

    return flywheel_html
