"""The demo business as an asset: it writes what real sources would deliver.

Landing files go where real exports land; GA4 and Search Console rows go to snapshots that
the demo clients serve; the planted truths go to schema `demo_truth` for evaluation only.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from flywheel_pipeline.resources import FlywheelPaths
from flywheel_pipeline.sources.demo import DemoConfig, simulate, write_landing_files
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, replace_table

DEMO_BUSINESS = dg.AssetKey(["demo", "business"])


class DemoResource(dg.ConfigurableResource):
    """The simulated shop's knobs (FLYWHEEL_DEMO_SEED / _SCALE / _DAYS)."""

    seed: int = 42
    scale: float = 1.0
    days: int = 180

    def config(self) -> DemoConfig:
        return DemoConfig(seed=self.seed, scale=self.scale, days=self.days)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    frame.to_parquet(partial, index=False)
    partial.replace(path)


@dg.asset(
    key=DEMO_BUSINESS,
    group_name="demo",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    description=(
        "Simulates the demo shop: writes landing files and GA4/Search Console snapshots, "
        "and plants the known truths in schema demo_truth."
    ),
)
def demo_business(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    paths: FlywheelPaths,
    demo: DemoResource,
) -> dg.MaterializeResult:
    business = simulate(demo.config())
    files = write_landing_files(business, paths.landing)
    snapshots = Path(paths.demo_dir)
    for name, frame in business.ga4.items():
        _write_parquet(frame, snapshots / "ga4" / f"ga4_{name}.parquet")
    _write_parquet(business.gsc, snapshots / "search_console" / "gsc_search_analytics.parquet")
    with warehouse.get_connection() as conn:
        for name, frame in business.truth.items():
            replace_table(conn, f"demo_truth.{name}", frame)
    context.log.info(f"demo business through {business.data_through}: {len(files)} files")
    return dg.MaterializeResult(
        metadata={
            "data_through": str(business.data_through),
            "landing_files": len(files),
            "contacts": len(business.crm["contacts"]),
            "conversations": len(business.conversations),
            "gsc_rows": len(business.gsc),
        }
    )
