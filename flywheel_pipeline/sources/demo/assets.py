"""The demo business as an asset: it writes what real sources would deliver.

Landing files go where real exports land; GA4 and Search Console rows go to snapshots that
the demo clients serve; the planted truths go to schema `demo_truth` for evaluation only.
"""

import datetime as dt
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline.processes import die_with
from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sources.demo import DemoConfig, simulate, write_landing_files
from flywheel_pipeline.sources.demo.config import DEFAULT_END_DATE
from flywheel_pipeline.sources.demo.landing import retire_unwritten_files
from flywheel_pipeline.sources.demo.world import read_applied_actions
from flywheel_pipeline.sources.report_file import load_reports
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    relation_exists,
    replace_table,
)

DEMO_BUSINESS = dg.AssetKey(["demo", "business"])


class DemoResource(dg.ConfigurableResource):
    """The simulated shop's knobs (FLYWHEEL_DEMO_SEED / _SCALE / _DAYS / _END_DATE)."""

    seed: int = 42
    scale: float = 1.0
    days: int = 180
    end_date: str = DEFAULT_END_DATE.isoformat()

    def config(self) -> DemoConfig:
        return DemoConfig(
            seed=self.seed,
            scale=self.scale,
            days=self.days,
            end_date=dt.date.fromisoformat(self.end_date),
        )


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    frame.to_parquet(partial, index=False)
    partial.replace(path)


@dataclass(frozen=True)
class DemoFiles:
    """What a simulation wrote: landing files, snapshots, and the planted truths as Parquet."""

    data_through: dt.date
    landing_files: list[Path]
    truth_files: dict[str, Path]
    counts: dict[str, int]


def write_demo_files(config: DemoConfig, landing: Path, demo_dir: Path) -> DemoFiles:
    """Simulate the business and write everything it delivers to files."""
    business = simulate(config)
    files = write_landing_files(business, landing)
    for name, frame in business.ga4.items():
        _write_parquet(frame, demo_dir / "ga4" / f"ga4_{name}.parquet")
    _write_parquet(business.gsc, demo_dir / "search_console" / "gsc_search_analytics.parquet")
    truth = {name: demo_dir / "truth" / f"{name}.parquet" for name in business.truth}
    for name, frame in business.truth.items():
        _write_parquet(frame, truth[name])
    counts = {
        "contacts": len(business.crm["contacts"]),
        "conversations": len(business.conversations),
        "gsc_rows": len(business.gsc),
    }
    return DemoFiles(business.data_through, files, truth, counts)


def write_demo_files_apart(config: DemoConfig, landing: Path, demo_dir: Path) -> DemoFiles:
    """`write_demo_files` in a child process. The simulation peaks at gigabytes at large
    scales, and the memory a Python process has used stays with it: in the run's own process
    it would stay held through dbt and the insights that follow."""
    spawn = multiprocessing.get_context("spawn")
    # A run killed outright takes the simulation with it (see processes.die_with).
    with ProcessPoolExecutor(1, spawn, initializer=die_with, initargs=(os.getpid(),)) as child:
        return child.submit(write_demo_files, config, landing, demo_dir).result()


def trim_google_history(conn: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date) -> int:
    """Delete the demo's GA4 and Search Console rows dated outside `first`..`last`.

    The Google assets rewrite only the days of their partitions, and the demo's partitions are
    its simulated days: after a longer or differently dated earlier run, the days outside this
    run's range would otherwise keep the old business's rows. Returns the rows deleted.
    """
    reports = load_reports()  # the demo serves the default reports only
    deleted = 0
    for report in (*reports.ga4, *reports.search_console):
        relation = f"raw.{report.table}"
        if relation_exists(conn, relation):
            (rows,) = conn.execute(
                f"delete from {relation} where date < ? or date > ?", [first, last]
            ).fetchone()
            deleted += rows
    return deleted


@dg.asset(
    key=DEMO_BUSINESS,
    group_name="demo",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    description=(
        "Simulates the demo shop: writes landing files (retiring the rows of demo files an "
        "earlier run wrote and this one did not) and GA4/Search Console snapshots, and "
        "plants the known truths in schema demo_truth. Actions the team did in the demo "
        "world (demo/applied_actions.csv, written by `flywheel simulate`) take effect from "
        "the day they were done."
    ),
)
def demo_business(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    paths: FlywheelPaths,
    demo: DemoResource,
) -> dg.MaterializeResult:
    config = demo.config().with_actions(*read_applied_actions(Path(paths.demo_dir)))
    written = write_demo_files_apart(config, paths.landing, Path(paths.demo_dir))
    with warehouse.get_connection() as conn:
        retired = retire_unwritten_files(conn, paths.landing, written.landing_files)
        trimmed = trim_google_history(conn, config.start_date, written.data_through)
        for name, path in written.truth_files.items():
            replace_table(conn, f"demo_truth.{name}", pd.read_parquet(path))
    context.log.info(
        f"demo business through {written.data_through}: {len(written.landing_files)} files, "
        f"{len(retired)} earlier demo file(s) retired, {trimmed:,} Google rows of days "
        "outside the simulated range deleted"
    )
    return dg.MaterializeResult(
        metadata={
            "data_through": str(written.data_through),
            "applied_actions": len(config.applied_actions),
            "landing_files": len(written.landing_files),
            "landing_files_retired": len(retired),
            "google_rows_outside_range_deleted": trimmed,
            **written.counts,
        }
    )
