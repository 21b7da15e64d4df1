"""The demo business as an asset: it writes what real sources would deliver.

Landing files go where real exports land; GA4 and Search Console rows go to snapshots that
the demo clients serve; the planted truths go to schema `demo_truth` for evaluation only.
It writes no raw table: each raw asset reconciles its own with what the demo delivered (the
file-drop assets retire the rows of demo files a rewrite removed, as the folders' mirror
marker says; the Google assets delete the rows of days the snapshot does not cover).
"""

import datetime as dt
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from flywheel_pipeline.processes import die_with
from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sources.demo import DemoConfig, simulate, write_landing_files
from flywheel_pipeline.sources.demo.config import DEFAULT_END_DATE
from flywheel_pipeline.sources.demo.spill import Tables
from flywheel_pipeline.sources.demo.world import read_applied_actions
from flywheel_pipeline.sources.google.snapshot import write_snapshot
from flywheel_pipeline.warehouse import (
    WAREHOUSE_POOL,
    WarehouseResource,
    replace_table_from_parquet,
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


def _write_parquet(tables: Tables, name: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    tables.to_parquet(name, partial)
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
    # The snapshots cover exactly the simulated days, and say so: the Google assets delete
    # their rows of any other day (an earlier, longer or differently dated demo's).
    days = (config.start_date, business.data_through)
    for name, frame in business.ga4.items():
        write_snapshot(frame, demo_dir / "ga4" / f"ga4_{name}.parquet", days)
    write_snapshot(business.gsc, demo_dir / "search_console" / "gsc_search_analytics.parquet", days)
    truth = {name: demo_dir / "truth" / f"{name}.parquet" for name in business.truth}
    for name, path in truth.items():
        _write_parquet(business.truth, name, path)
    counts = {
        "contacts": business.crm.rows("contacts"),
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


@dg.asset(
    key=DEMO_BUSINESS,
    group_name="demo",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    description=(
        "Simulates the demo shop: writes landing files (marking the folders it writes as "
        "mirrors of its demo_* files, so the loaders retire the rows of files a rewrite "
        "removed) and GA4/Search Console snapshots of the simulated days, and plants the "
        "known truths in schema demo_truth. Actions the team did in the demo world "
        "(demo/applied_actions.csv, written by `flywheel simulate`) take effect from the day "
        "they were done."
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
        for name, path in written.truth_files.items():
            replace_table_from_parquet(conn, f"demo_truth.{name}", path)
    context.log.info(
        f"demo business {config.start_date} .. {written.data_through}: "
        f"{len(written.landing_files)} landing files and the Google snapshots written"
    )
    return dg.MaterializeResult(
        metadata={
            "data_through": str(written.data_through),
            "applied_actions": len(config.applied_actions),
            "landing_files": len(written.landing_files),
            **written.counts,
        }
    )
