"""Train and score every insight model on one demo warehouse: seconds per model, peak RSS.

Usage: .venv/bin/python benchmarks/bench_insights.py [--scale 10] [--home DIR]

Without --home it first builds the demo business at --scale with `flywheel demo` into a
temporary FLYWHEEL_HOME (not timed). Then a fresh child process materialises the insight assets
(schema ml: topics and content gaps, lead, deal and customer-value scores, search
opportunities) one after another against a copy of that warehouse, so the peak RSS is the
insights' alone. Target (issue #9): all of them together ≤ 90 s and < 4 GB at scale 10.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from flywheel_pipeline.settings import load_settings

CHILD = r"""
import logging, resource, sys, time
import dagster as dg
logging.getLogger("dagster").setLevel(logging.WARNING)
from flywheel_pipeline.insights import assets as insights
from flywheel_pipeline.warehouse import WarehouseResource

models = [insights.conversation_topic_model, insights.lead_scoring_model,
          insights.deal_scoring_model, insights.customer_value_model,
          insights.search_opportunity_model]
warehouse = WarehouseResource(path=sys.argv[1])
total = 0.0
for model in models:
    started = time.perf_counter()
    dg.materialize([model], resources={"warehouse": warehouse}, raise_on_error=True)
    elapsed = time.perf_counter() - started
    total += elapsed
    print(f"{model.node_def.name:<28} {elapsed:8.1f}", flush=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{'all insight models':<28} {total:8.1f}")
print(f"peak RSS: {peak:,.0f} MB")
"""


def _build_demo(home: Path, scale: float) -> None:
    env = {**os.environ, "FLYWHEEL_HOME": str(home), "FLYWHEEL_DEMO_SCALE": str(scale)}
    env.pop("DAGSTER_HOME", None)
    flywheel = Path(sys.executable).with_name("flywheel")
    print(f"building the demo at scale {scale:g} in {home} (not timed)…", flush=True)
    subprocess.run([str(flywheel), "demo"], env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--home", type=Path, help="an existing demo FLYWHEEL_HOME to reuse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or Path(scratch) / "demo"
        if args.home is None:
            _build_demo(home, args.scale)
        database = Path(scratch) / "warehouse.duckdb"
        shutil.copy(load_settings(flywheel_home=home).duckdb_path, database)
        print(f"{'model':<28} {'seconds':>8}", flush=True)
        subprocess.run([sys.executable, "-c", CHILD, str(database)], check=True)


if __name__ == "__main__":
    main()
