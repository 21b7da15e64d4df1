"""The `flywheel` command: run the demo, rebuild the report, act on recommendations."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
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
    """Parse the dbt project: its manifest goes to dbt_project/target in a checkout, to
    $FLYWHEEL_HOME/dbt/target for an installed package."""
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
    if not _run(settings, terminal):
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


@main.command("run")
@click.option(
    "--from",
    "first_day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day the partitioned sources (GA4, Search Console) extract. Default: the first "
    "day not extracted yet, or the trailing 3 days (restated) when every day is in.",
)
@click.option(
    "--to",
    "last_day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Last day they extract (default: the last complete day).",
)
@click.option(
    "--select",
    help="Only these assets, as a Dagster asset selection: `raw/crm_contacts+` (and the "
    "next layer down), `key:raw/crm_contacts+++`, `group:attract`.",
)
def run_command(first_day: datetime | None, last_day: datetime | None, select: str | None) -> None:
    """Materialise everything once in the configured mode (live or demo)."""
    from flywheel_pipeline.sources.definitions import google_partitions

    settings = _settings()
    started = time.monotonic()
    terminal = sys.stdout
    days = None
    if first_day or last_day:
        keys = google_partitions(settings).get_partition_keys()
        days = _day_range(keys, first_day, last_day)
    click.echo(f"Flywheel run ({settings.source} mode) → {settings.duckdb_path}")
    for line in _source_lines(settings):
        click.echo(f"  {line}")
    success = _run(settings, terminal, days=days, selection=select, catch_up=True)
    if settings.duckdb_path.exists() and select is None:
        import duckdb

        try:
            print_summary(settings)
        except duckdb.CatalogException:  # a first run that failed before the marts built
            click.echo("\n(no summary: the marts are not built yet)")
    if not success:
        raise click.ClickException(
            "the run failed (the failures are listed above; `flywheel status` shows each "
            "source's state)"
        )
    click.echo(f"Done in {time.monotonic() - started:.0f} s.")


@main.command()
def status() -> None:
    """The last runs, each source's state, landing files and quarantine, the warehouse pool."""
    import os

    import dagster as dg

    from flywheel_pipeline.operations import status as report

    settings = _settings()
    click.echo(f"Flywheel status ({settings.source} mode), warehouse {settings.duckdb_path}")
    sections: dict[str, list[str]] = {}
    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get() as instance:
            sections["Last runs"] = report.run_lines(instance)
            sections["Sources"] = report.source_lines(instance, settings)
            sections["Warehouse pool"] = report.pool_lines(instance)
    else:
        sections["Runs"] = [
            "DAGSTER_HOME is not set, so no run history is kept (the Makefile sets it to "
            "./dagster_home)"
        ]
    sections["Landing files"] = report.drop_lines(settings)
    for title, lines in sections.items():
        click.echo(f"\n{title}:")
        for line in lines:
            click.echo(f"  {line}")


def _day_range(keys: list[str], first_day: datetime | None, last_day: datetime | None):
    """--from/--to as dates inside the sources' partitions, or a usage error naming the bound."""
    import datetime as dt

    if not keys:
        raise click.UsageError("the partitioned sources have no day to extract yet")
    low, high = dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])
    first = first_day.date() if first_day else low
    last = last_day.date() if last_day else high
    for option, day in (("--from", first), ("--to", last)):
        if not low <= day <= high:
            raise click.BadParameter(
                f"{day} is outside the days the sources cover ({low} .. {high}; "
                "FLYWHEEL_START_DATE moves the first)",
                param_hint=option,
            )
    if first > last:
        raise click.BadParameter(f"{first} is after --to {last}", param_hint="--from")
    return first, last


def _source_lines(settings: Settings) -> list[str]:
    """What each source will do in this mode, before anything runs."""
    if settings.source == "demo":
        return [
            f"demo business: seed {settings.flywheel_demo_seed}, scale "
            f"{settings.flywheel_demo_scale:g}, {settings.flywheel_demo_days} days"
        ]
    ga4 = f"property {settings.ga4_property_id}" if settings.ga4_property_id else None
    gsc = settings.gsc_site_url
    return [
        f"GA4: {ga4 or 'not configured (GA4_PROPERTY_ID unset): skipped'}",
        f"Search Console: {gsc or 'not configured (GSC_SITE_URL unset): skipped'}",
        f"file drops: {settings.landing_dir}",
    ]


def _run(settings: Settings, terminal, **options) -> bool:
    """Run the job with progress on the terminal; False when a step failed."""
    from flywheel_pipeline.dbt.project import DbtParseError
    from flywheel_pipeline.runner import SelectionError, run_everything

    try:
        run = run_everything(
            settings, on_progress=lambda line: click.echo(line, file=terminal), **options
        )
    except (DbtParseError, SelectionError) as exc:
        raise click.ClickException(str(exc)) from None
    return run.success


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
    from flywheel_pipeline.sources.source_health import unconfigured

    settings = _settings()
    with _connect_read_only(settings) as conn:
        path = render_report(
            conn, settings.reports_dir / REPORT_FILE, unconfigured=unconfigured(settings)
        )
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


def _count_option(name: str, default: int, help: str, *, minimum: int = 1):
    """A whole-number option of at least `minimum`, its default shown in --help."""
    return click.option(
        name, type=click.IntRange(min=minimum), default=default, show_default=True, help=help
    )


@main.command()
@_count_option("--cycles", 6, "Turns of the wheel after the history.")
@_count_option("--cycle-days", 28, "Simulated days each cycle adds.")
@_count_option(
    "--accept-top",
    10,
    "Recommendations accepted and done per cycle in the treated arm.",
    minimum=0,
)
@click.option("--no-control", is_flag=True, help="Skip the control arm (no actions taken).")
@click.option("--seed", type=int, help="Overrides FLYWHEEL_DEMO_SEED.")
@click.option("--scale", type=float, help="Overrides FLYWHEEL_DEMO_SCALE.")
@click.option("--days", type=int, help="History before the first cycle (FLYWHEEL_DEMO_DAYS).")
@click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where the arms live (default: $FLYWHEEL_HOME/simulation).",
)
def simulate(
    cycles: int,
    cycle_days: int,
    accept_top: int,
    no_control: bool,
    seed: int | None,
    scale: float | None,
    days: int | None,
    home: Path | None,
) -> None:
    """Turn the demo wheel: each cycle the business runs on, the pipeline ingests the new days,
    retrains and recommends, and the top recommendations are done in simulated time; a control
    arm runs the same business with nothing done."""
    from flywheel_pipeline.evaluation.loop import loop_verdict, outcomes_against_planted
    from flywheel_pipeline.simulation.cycle import SimulationError
    from flywheel_pipeline.simulation.driver import CYCLES_TABLE, run_simulation
    from flywheel_pipeline.simulation.plan import TREATED, SimulationPlan
    from flywheel_pipeline.warehouse import connect

    overrides = {
        "flywheel_demo_seed": seed,
        "flywheel_demo_scale": scale,
        "flywheel_demo_days": days,
    }
    settings = _settings(**{k: v for k, v in overrides.items() if v is not None})
    plan = SimulationPlan(
        home=(home or settings.home / "simulation").resolve(),
        seed=settings.flywheel_demo_seed,
        scale=settings.flywheel_demo_scale,
        days=settings.flywheel_demo_days,
        cycles=cycles,
        cycle_days=cycle_days,
        accept_top=accept_top,
        control=not no_control,
        holdout_share=settings.flywheel_holdout_share,
    )
    try:  # the last cycle's settings: a history too long for the demo stops here, not later
        plan.settings(TREATED, cycles)
    except SettingsError as exc:
        raise click.ClickException(f"{exc} (at cycle {cycles})") from None
    started = time.monotonic()
    click.echo(
        f"Flywheel simulate: seed {plan.seed}, scale {plan.scale:g}, {plan.days} days of history, "
        f"{cycles} cycles of {cycle_days} days, top {accept_top} done per cycle, arms "
        f"{' and '.join(plan.arms)} under {plan.home}"
    )
    try:
        frame = run_simulation(plan, click.echo)
    except SimulationError as exc:
        raise click.ClickException(str(exc)) from None
    treated = plan.settings(TREATED, cycles)
    with connect(treated.duckdb_path, read_only=True) as conn:
        outcomes = outcomes_against_planted(conn)
    click.echo("\nThe loop against the planted effects:")
    for sentence, holds in loop_verdict(frame, outcomes):
        mark = {True: "yes", False: "NO ", None: " - "}[holds]
        click.echo(f"  [{mark}] {sentence}")
    click.echo(f"\n{CYCLES_TABLE} in {treated.duckdb_path}")
    click.echo(f"HTML report (Loop section): {treated.reports_dir / 'flywheel.html'}")
    click.echo(f"Done in {time.monotonic() - started:.0f} s.")


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
    """Append-only: each decision is a new file in landing/decisions/, like any file drop,
    dated by :func:`decision_time` (simulated time in the demo)."""
    from flywheel_pipeline.sources.files.decisions import decision_time, write_decision_file

    # named by the wall clock: demo decisions share one simulated time, and each must keep
    # its own file (files load in name order, so a later decision is loaded later)
    name = f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{recommendation_id}"
    decided_at = decision_time(settings)
    return write_decision_file(
        settings.landing_dir, name, [(recommendation_id, status, decided_at, note)]
    )


if __name__ == "__main__":
    sys.exit(main())
