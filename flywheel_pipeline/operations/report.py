"""The HTML report: one self-contained page that shows the wheel turning.

Charts are Plotly figures with the library inlined once, so the file opens without network.
"""

import html
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import plotly.express as px

from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource

REPORT_FILE = "flywheel.html"
STAGES = ["stranger", "prospect", "customer", "promoter"]


class _Page:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self._plotly_inlined = False

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def note(self, text: str) -> None:
        self.parts.append(f"<p class='note'>{html.escape(text)}</p>")

    def figure(self, fig) -> None:
        fig.update_layout(margin={"l": 40, "r": 20, "t": 40, "b": 40}, height=360)
        include = "inline" if not self._plotly_inlined else False
        self._plotly_inlined = True
        self.parts.append(fig.to_html(full_html=False, include_plotlyjs=include))

    def table(self, frame: pd.DataFrame) -> None:
        self.parts.append(frame.to_html(index=False, classes="data", border=0, escape=True))


def _read(conn: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame | None:
    schema, table = relation.split(".")
    exists = conn.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0]
    return conn.execute(f"select * from {relation}").df() if exists else None


def _stages(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("The wheel: people per stage")
    stages_daily = _read(conn, "flywheel.stages_daily")
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
    momentum = _read(conn, "flywheel.momentum")
    if momentum is None or momentum.empty:
        page.note("flywheel.momentum is not built yet.")
        return
    months = momentum[momentum["period_type"] == "month"].sort_values("period_start")
    shown = ["period_key", "strangers", "prospects", "customers", "promoters", "phase"]
    page.table(months[[c for c in shown if c in months.columns]].tail(6))


def _channels(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Attract: sessions by channel")
    channels = _read(conn, "attract.channel_daily")
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
    curve = _read(conn, "ml.search_ctr_curve")
    found = _read(conn, "ml.search_opportunities")
    if curve is None or curve.empty or found is None:
        page.note("No Search Console data modelled yet (ml.search_ctr_curve).")
        return
    if int(curve["impressions"].sum()) == 0:
        page.note("Too little Search Console data for a site curve: the public prior serves.")
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
    topics = _read(conn, "engage.conversation_topics")
    if topics is None or topics.empty:
        page.note("engage.conversation_topics is not built yet.")
        return
    top = topics.sort_values("conversations", ascending=True).tail(15)
    page.figure(px.bar(top, x="conversations", y="label", orientation="h"))


def _recommendations(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Recommendations")
    recommendations = _read(conn, "flywheel.recommendations")
    if recommendations is None or recommendations.empty:
        page.note("No recommendations yet.")
        return
    columns = ["priority", "type", "action", "expected_impact", "impact_unit", "status"]
    top = recommendations.sort_values("priority")[columns].head(20)
    page.table(top.assign(expected_impact=top["expected_impact"].round(0)))


def _model_runs(page: _Page, conn: duckdb.DuckDBPyConnection) -> None:
    page.heading("Model quality (holdout metric beside a naive baseline)")
    runs = _read(conn, "flywheel.model_runs")
    if runs is None or runs.empty:
        page.note("No model runs yet.")
        return
    columns = ["model", "metric", "value", "baseline_value", "beats_baseline", "data_through"]
    shown = runs[[c for c in columns if c in runs.columns]]
    if "beats_baseline" in shown:  # null for counts and flags, which beat nothing
        verdict = shown["beats_baseline"].map({True: "yes", False: "no"})
        shown = shown.assign(beats_baseline=verdict.fillna(""))
    page.table(shown.round({"value": 3, "baseline_value": 3}))


SECTIONS = (
    _stages,
    _momentum,
    _channels,
    _search_opportunities,
    _topics,
    _recommendations,
    _model_runs,
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
"""


def render_report(conn: duckdb.DuckDBPyConnection, path: Path) -> Path:
    page = _Page()
    for section in SECTIONS:
        section(page, conn)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    document = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Flywheel</title>"
        f"<style>{_STYLE}</style></head><body><h1>Flywheel</h1>"
        f"<p class='note'>Generated {generated}</p>{''.join(page.parts)}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(document, encoding="utf-8")
    partial.replace(path)
    return path


def report_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=["reports", "flywheel_html"],
        group_name="flywheel",
        kinds={"html", "plotly"},
        pool=WAREHOUSE_POOL,
        deps=[*upstream, *INSIGHT_INPUTS],
        description="Self-contained HTML report ($FLYWHEEL_HOME/reports/flywheel.html).",
    )
    def flywheel_html(warehouse: WarehouseResource, paths: FlywheelPaths) -> dg.MaterializeResult:
        with warehouse.get_connection() as conn:
            path = render_report(conn, Path(paths.reports_dir) / REPORT_FILE)
        return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path))})

    return flywheel_html
