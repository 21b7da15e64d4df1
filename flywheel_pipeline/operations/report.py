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
    shown = runs[["model", "metric", "value", "baseline_value", "data_through"]]
    page.table(shown.round({"value": 3, "baseline_value": 3}))


SECTIONS = (_stages, _momentum, _channels, _topics, _recommendations, _model_runs)

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
        deps=upstream,
        description="Self-contained HTML report ($FLYWHEEL_HOME/reports/flywheel.html).",
    )
    def flywheel_html(warehouse: WarehouseResource, paths: FlywheelPaths) -> dg.MaterializeResult:
        with warehouse.get_connection() as conn:
            path = render_report(conn, Path(paths.reports_dir) / REPORT_FILE)
        return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path))})

    return flywheel_html
