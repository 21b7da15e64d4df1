"""Writing the report (`render_report`) and the Dagster asset that does it after the marts."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from flywheel_pipeline import tables
from flywheel_pipeline.operations.report import sections
from flywheel_pipeline.operations.report.kpis import overview
from flywheel_pipeline.operations.report.page import Page, document, esc
from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sources.source_health import (
    SKIPPED_STATUS,
    SourceHealth,
    describe_last_good,
    extraction_health,
    stale_sources,
)
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource

REPORT_FILE = "flywheel.html"
# Top to bottom: what a marketer reads first (KPIs, phase, actions), then where the wheel
# leaks and why, then the evidence behind the actions.
SECTIONS = (
    overview,
    sections.funnel,
    sections.momentum,
    sections.loop,
    sections.channels,
    sections.topics,
    sections.search_opportunities,
    sections.outcomes,
    sections.model_runs,
    sections.evaluation,
    sections.recommendations,
)
# Insight tables the report reads although no mart carries them (SPEC §5 names no search
# mart): the report asset depends on them besides the marts.
INSIGHT_INPUTS = tables.deps_of(tables.SEARCH_OPPORTUNITIES, tables.SEARCH_CTR_CURVE)
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
            + "".join(f"<p>{esc(line)}</p>" for line in lines)
            + "</div>"
        )
    if skipped:
        parts.append(f"<p class='note'>Not configured (skipped): {esc(', '.join(skipped))}.</p>")
    return "".join(parts)


def _skipped(health: Sequence[SourceHealth], unconfigured: Mapping[str, str]) -> dict[str, str]:
    """Source → why it was skipped: unconfigured Google sources (left out of the run, so
    their health says only "not loaded") and sources whose latest run skipped them."""
    skipped = {e.source: e.cause or "skipped" for e in health if e.status == SKIPPED_STATUS}
    return {**skipped, **unconfigured}


def render_report(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    health: Sequence[SourceHealth] = (),
    downstream: Mapping[dg.AssetKey, Sequence[dg.AssetKey]] | None = None,
    unconfigured: Mapping[str, str] | None = None,
) -> Path:
    """Write the report. `health`: the sources' health (sources/source_health.py); a failed
    source gets a banner at the top, and every section built on its data (`downstream`: the
    assets downstream of each raw asset) says so. `unconfigured`: the Google sources not
    configured in live mode with the missing setting (`source_health.unconfigured`), which
    the sections name instead of drawing empty charts."""
    banner, stale = _stale_lines(health, downstream or {})
    skipped = _skipped(health, unconfigured or {})
    page = Page(stale, skipped)
    for section in SECTIONS:
        section(page, conn)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        "<h1>Flywheel</h1>"
        f"<p class='note'>Generated {generated}</p>{_banner(banner, sorted(skipped))}"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(document("Flywheel", header, page.parts), encoding="utf-8")
    partial.replace(path)
    return path


def report_asset(
    upstream: list[dg.AssetKey],
    sources: Sequence[tuple[str, dg.AssetKey]] = (),
    downstream: Mapping[dg.AssetKey, Sequence[dg.AssetKey]] | None = None,
    unconfigured: Mapping[str, str] | None = None,
) -> dg.AssetsDefinition:
    """`sources`: (label, raw asset key) of the extracted sources whose failure the report
    flags; `downstream`: the assets built on each of them; `unconfigured`: the Google
    sources not configured (`source_health.unconfigured(settings)`)."""

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
                unconfigured=unconfigured,
            )
        metadata: dict[str, object] = {
            "path": dg.MetadataValue.path(str(path)),
            "size_kb": round(path.stat().st_size / 1024),
        }
        stale = stale_sources(health)
        if stale:
            metadata["flywheel/stale_sources"] = ", ".join(stale)
        return dg.MaterializeResult(metadata=metadata)

    return flywheel_html
