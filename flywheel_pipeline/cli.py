"""The `flywheel` command: run the demo, rebuild the report, act on recommendations."""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from flywheel_pipeline.settings import Settings, SettingsError, load_settings


def _settings(**overrides: object) -> Settings:
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.legacy_warehouse_notice:
        click.echo(settings.legacy_warehouse_notice, err=True)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Flywheel: a marketing data flywheel on Dagster, dbt and DuckDB."""


@main.command()
def prepare() -> None:
    """Parse the dbt project (writes dbt_project/target/manifest.json)."""
    from flywheel_pipeline.dbt.project import ensure_manifest

    click.echo(f"dbt manifest: {ensure_manifest()}")


@main.command()
@click.option("--seed", type=int, help="Overrides FLYWHEEL_DEMO_SEED.")
@click.option("--scale", type=float, help="Overrides FLYWHEEL_DEMO_SCALE.")
@click.option("--days", type=int, help="Overrides FLYWHEEL_DEMO_DAYS.")
def demo(seed: int | None, scale: float | None, days: int | None) -> None:
    """Materialise every asset on the built-in demo business and print a summary."""
    overrides = {
        "flywheel_source": "demo",
        "flywheel_demo_seed": seed,
        "flywheel_demo_scale": scale,
        "flywheel_demo_days": days,
    }
    settings = _settings(**{k: v for k, v in overrides.items() if v is not None})
    started = time.monotonic()
    terminal = sys.stdout  # progress keeps going here while tool output goes to the log
    click.echo(
        f"Flywheel demo: seed {settings.flywheel_demo_seed}, "
        f"scale {settings.flywheel_demo_scale:g}, {settings.flywheel_demo_days} days "
        f"→ {settings.duckdb_path}"
    )
    from flywheel_pipeline.dbt.project import DbtParseError

    try:
        success = run_everything(settings, on_progress=lambda line: click.echo(line, file=terminal))
    except DbtParseError as exc:
        raise click.ClickException(str(exc)) from None
    if not success:
        raise click.ClickException("the run failed; the log above has the details")
    from flywheel_pipeline.evaluation.planted import targets_met

    evaluation = evaluate_and_report(settings)
    print_summary(settings)
    met, stated = targets_met(evaluation)
    click.echo(
        f"Models against the planted truths: {met} of {stated} targets met "
        "(`flywheel evaluate` prints the table)."
    )
    click.echo(f"Done in {time.monotonic() - started:.0f} s.")


def run_everything(settings: Settings, on_progress: Callable[[str], None]) -> bool:
    """Run the `everything` job in this process, reporting each materialisation as it lands.

    dbt and Dagster write detailed logs to stdout and stderr; those go to a log file under
    $FLYWHEEL_HOME/logs so the terminal shows one line per asset (and each failure's cause).
    """
    import dagster as dg

    from flywheel_pipeline.definitions import build_definitions

    on_progress("  preparing definitions (dbt parse when models changed)…")
    definitions = build_definitions(settings)
    log_path = settings.home / "logs" / f"run-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    on_progress(f"  detailed log: {log_path}")
    job = definitions.resolve_job_def("everything")
    tags = whole_history_tags(job.partitions_def)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    instance = instance or dg.DagsterInstance.ephemeral()
    run_id = str(uuid.uuid4())
    done = threading.Event()
    watcher = threading.Thread(
        target=_report_progress, args=(instance, run_id, done, on_progress), daemon=True
    )
    watcher.start()
    try:
        with (
            log_path.open("w", encoding="utf-8") as log,
            contextlib.redirect_stdout(log),
            contextlib.redirect_stderr(log),
        ):
            result = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                tags=tags,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            )
    finally:
        done.set()
        watcher.join()
    return result.success


def whole_history_tags(partitions) -> dict[str, str]:
    """Run tags that extract every day of the partitioned sources in this one run."""
    from flywheel_pipeline.sources.partitions import range_tags

    keys = partitions.get_partition_keys() if partitions is not None else []
    return range_tags(keys[0], keys[-1]) if keys else {}


def _report_progress(instance, run_id: str, done: threading.Event, echo) -> None:
    import dagster as dg

    started = time.monotonic()
    cursor = None
    kinds = {dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.STEP_FAILURE}
    # A partitioned asset extracting a range in one step reports once per day: show it once.
    shown_assets: set = set()
    while True:
        finished = done.is_set()
        try:
            batch = instance.get_records_for_run(run_id, cursor=cursor)
        except Exception as exc:
            echo(f"  (progress unavailable: {exc})")
            raise
        cursor = batch.cursor
        for record in batch.records:
            event = record.event_log_entry.dagster_event
            if event is None or event.event_type not in kinds:
                continue
            elapsed = time.monotonic() - started
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                echo(f"  {elapsed:6.1f}s  FAILED {event.step_key}: {_failure_cause(event)}")
                continue
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key in shown_assets:
                continue
            shown_assets.add(materialization.asset_key)
            metadata = materialization.metadata
            rows = metadata.get("dagster/row_count")
            shown = f"{rows.value:>10,} rows" if rows is not None else ""
            days = metadata.get("days")
            shown += f"  ({days.value})" if days is not None else ""
            echo(f"  {elapsed:6.1f}s  {materialization.asset_key.to_user_string():<45}{shown}")
            if "rejections" in metadata:
                for line in metadata["rejections"].value.splitlines():
                    echo(f"           rejected {line.removeprefix('- ')}")
            quarantined = metadata.get("rows_quarantined")
            if quarantined is not None and quarantined.value:
                echo(f"           {quarantined.value:,} rows quarantined (see raw.quarantine)")
        if finished and not batch.has_more:
            return
        time.sleep(0.5)


def _failure_cause(event) -> str:
    """The innermost error message: the user's exception, not Dagster's wrapper."""
    error = event.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[-1] if error.message.strip() else "unknown error"


def _connect_read_only(settings: Settings):
    from flywheel_pipeline.warehouse import connect

    if not settings.duckdb_path.exists():
        raise click.ClickException(f"no warehouse at {settings.duckdb_path}; run `flywheel demo`")
    return connect(settings.duckdb_path, read_only=True)


def print_summary(settings: Settings) -> None:
    from flywheel_pipeline.operations.report import REPORT_FILE
    from flywheel_pipeline.operations.serving import MART_SCHEMAS, SERVING_DATABASE

    with _connect_read_only(settings) as conn:
        click.echo("\nRows per flywheel stage:")
        for schema in MART_SCHEMAS:
            tables = conn.execute(
                "select table_name, estimated_size from duckdb_tables() "
                "where database_name = current_database() and schema_name = ? "
                "order by table_name",
                [schema],
            ).fetchall()
            listed = ", ".join(f"{name} {rows:,}" for name, rows in tables) or "(none)"
            click.echo(f"  {schema:<9} {listed}")
        click.echo("\nTop conversation topics:")
        for label, conversations, share in conn.execute(
            "select label, conversations, share from engage.conversation_topics "
            "order by conversations desc limit 5"
        ).fetchall():
            click.echo(f"  {conversations:>6,}  {share:6.1%}  {label}")
        click.echo("\nTop recommendations:")
        for priority, action, impact, unit in conn.execute(
            "select priority, action, expected_impact, impact_unit from flywheel.recommendations "
            "order by priority limit 5"
        ).fetchall():
            click.echo(f"  #{priority:<3} {action}  ({impact:,.0f} {unit})")
    click.echo(f"\nWarehouse: {settings.duckdb_path}")
    click.echo(f"Serving copy for BI tools: {settings.serving_dir / SERVING_DATABASE}")
    click.echo(f"HTML report: {settings.reports_dir / REPORT_FILE}")
    click.echo(f"Open actions, one CSV per type: {settings.home / 'actions'}")


@main.command()
def report() -> None:
    """Rebuild the HTML report from the warehouse."""
    from flywheel_pipeline.operations.report import REPORT_FILE, render_report

    settings = _settings()
    with _connect_read_only(settings) as conn:
        path = render_report(conn, settings.reports_dir / REPORT_FILE)
    click.echo(f"HTML report: {path}")


@main.command()
def evaluate() -> None:
    """Score every model against the demo's planted truths (demo only).

    Writes flywheel.model_evaluation, prints the table and rebuilds the HTML report."""
    from tabulate import tabulate

    from flywheel_pipeline.evaluation.planted import targets_met

    settings = _settings()
    frame = evaluate_and_report(settings)
    shown = frame.drop(columns=["seed", "scale", "data_through"]).assign(
        target=frame["target"].astype(object).where(frame["target"].notna(), None),
        passed=frame["passed"].map({True: "yes", False: "NO"}).fillna(""),
    )
    first = frame.iloc[0]
    click.echo(
        f"Demo seed {first['seed']}, scale {first['scale']:g}, data through "
        f"{first['data_through']}:"
    )
    click.echo(tabulate(shown, headers="keys", showindex=False, floatfmt=".3f", missingval=""))
    met, stated = targets_met(frame)
    click.echo(f"{met} of {stated} targets met.")


def evaluate_and_report(settings: Settings):
    """Evaluate the published models against the planted truths, record it, and rebuild the
    report so that it shows the evaluation."""
    from flywheel_pipeline.evaluation.planted import NotADemoWarehouse, evaluate, record_evaluation
    from flywheel_pipeline.operations.report import REPORT_FILE, render_report
    from flywheel_pipeline.warehouse import connect

    if not settings.duckdb_path.exists():
        raise click.ClickException(f"no warehouse at {settings.duckdb_path}; run `flywheel demo`")
    with connect(settings.duckdb_path) as conn:
        try:
            frame = evaluate(conn)
        except NotADemoWarehouse as exc:
            raise click.ClickException(str(exc)) from None
        record_evaluation(conn, frame)
        render_report(conn, settings.reports_dir / REPORT_FILE)
    return frame


@main.group()
def recommendations() -> None:
    """List recommendations, or record a decision on one."""


@recommendations.command("list")
@click.option("--limit", default=20, show_default=True)
def list_recommendations(limit: int) -> None:
    """The current recommendations, highest priority first."""
    settings = _settings()
    with _connect_read_only(settings) as conn:
        rows = conn.execute(
            "select recommendation_id, priority, status, type, action, expected_impact, "
            "impact_unit from flywheel.recommendations order by priority limit ?",
            [limit],
        ).fetchall()
    for rec_id, priority, status, kind, action, impact, unit in rows:
        click.echo(f"#{priority:<3} {rec_id}  [{status}] {kind}: {action} ({impact:,.0f} {unit})")


def _decide(status: str) -> Callable[[str, str], None]:
    def command(recommendation_id: str, note: str) -> None:
        path = record_decision(_settings(), recommendation_id, status, note)
        click.echo(f"{recommendation_id}: {status} (written to {path}; loaded on the next run)")

    command.__doc__ = f"Mark a recommendation {status}."
    return command


for _status, _name in (("accepted", "accept"), ("rejected", "reject"), ("done", "done")):
    recommendations.command(_name)(
        click.argument("recommendation_id")(
            click.option("--note", default="", help="Why, for the record.")(_decide(_status))
        )
    )


def record_decision(settings: Settings, recommendation_id: str, status: str, note: str) -> Path:
    """Append-only: each decision is a new file in landing/decisions/, like any file drop.

    Live, a decision is dated now. The demo's data end on a fixed day, so its decisions are
    dated in simulated time, as soon as that day's data has been seen (the next midnight
    UTC): dated by the wall clock they would lie months after the data and never be measured.
    """
    decided_at = datetime.now(UTC)
    if settings.source == "demo":
        from flywheel_pipeline.sources.definitions import demo_config

        last_day = demo_config(settings).end_date
        decided_at = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC)
        decided_at += timedelta(days=1)
    folder = settings.landing_dir / "decisions"
    folder.mkdir(parents=True, exist_ok=True)
    # named by the wall clock: demo decisions share one simulated time, and each must keep
    # its own file (files load in name order, so a later decision is loaded later)
    path = folder / f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{recommendation_id}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recommendation_id", "status", "decided_at", "note"])
        writer.writerow([recommendation_id, status, decided_at.isoformat(), note])
    return path


if __name__ == "__main__":
    sys.exit(main())
