"""dbt's overhead and the incremental daily facts, measured side by side in one run.

Usage: .venv/bin/python benchmarks/bench_dbt.py [--scale 10] [--days 365]

Builds a raw warehouse from the demo simulator with the real loaders (as
tests/test_dbt_incremental.py does), then times, with the `dbt` CLI in a subprocess as the
pipeline runs it:
  (d) dbt's fixed start-up: a run that selects nothing;
  (a) a full `dbt run` of every model (seeds loaded beforehand, untimed), and a full
      `dbt build` (the models and their data tests; unit tests excluded: they test the SQL,
      not the data, and have no compiled equivalent to run directly);
  (b) the same compiled SQL (manifest `compiled_code`, DAG order) executed directly in one
      DuckDB connection, each model wrapped in `create or replace table/view`, then each data
      test's query counted as dbt counts it;
  (c) after adding one day: `dbt run` of the incremental facts (traffic_daily,
      search_queries_daily) against their `--full-refresh` run, and the whole project;
  (e) the same two runs of the facts repeated `--rounds` times, interleaved, on dbt's own
      clock (run_results.json: the run phase without start-up, and each model's time):
      medians, because one wall-clock sample on a shared 2-core machine is mostly noise.
Start-up (d) is subtracted from the dbt figures for the ratios. Targets: full dbt ≤ 2× direct
SQL; one-day incremental < 15 % of a full build.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flywheel_pipeline.sources.demo import DemoConfig, simulate  # noqa: E402
from tests.test_dbt_incremental import (  # noqa: E402
    DBT_PROJECT_DIR,
    Extract,
    write_api_sources,
    write_file_sources,
)

DBT = str(Path(sys.executable).with_name("dbt"))
INCREMENTAL = ["traffic_daily", "search_queries_daily"]


def dbt(args: list[str], database: Path, target: Path) -> float:
    """Seconds for one `dbt` CLI invocation (fails loudly)."""
    env = {**os.environ, "FLYWHEEL_DUCKDB_PATH": str(database)}
    command = [
        DBT,
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    print(f"  dbt {' '.join(args)}: {elapsed:.1f} s", flush=True)
    return elapsed


def run_phase(target: Path) -> tuple[float, dict[str, float]]:
    """dbt's own clock for the last invocation: run-phase seconds, seconds per model."""
    results = json.loads((target / "run_results.json").read_text())
    per_model = {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]}
    return results["elapsed_time"], per_model


def direct_sql(manifest_path: Path, database: Path) -> tuple[float, float, int, int]:
    """Every model's compiled SQL in DAG order, then every data test's, in one connection:
    (model seconds, test seconds, models, tests)."""
    manifest = json.loads(manifest_path.read_text())
    compiled = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "test") and node.get("compiled_code")
    }
    models = {uid: node for uid, node in compiled.items() if node["resource_type"] == "model"}
    tests = [node for node in compiled.values() if node["resource_type"] == "test"]
    graph = {
        uid: [d for d in node["depends_on"]["nodes"] if d in models] for uid, node in models.items()
    }
    order = list(TopologicalSorter(graph).static_order())
    with duckdb.connect(str(database)) as conn:  # catalog = file stem, as dbt-duckdb names it
        started = time.perf_counter()
        for uid in order:
            node = models[uid]
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            relation = f'"{node["database"]}"."{node["schema"]}"."{node["alias"]}"'
            conn.execute(f'create schema if not exists "{node["database"]}"."{node["schema"]}"')
            conn.execute(f"create or replace {kind} {relation} as (\n{node['compiled_code']}\n)")
        models_done = time.perf_counter()
        for node in tests:  # as dbt runs a test: count the failing rows
            conn.execute(f"select count(*) from (\n{node['compiled_code']}\n) as test").fetchone()
        tests_done = time.perf_counter()
    return models_done - started, tests_done - models_done, len(order), len(tests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        database, target = root / "flywheel.duckdb", root / "target"
        started = time.perf_counter()
        # one day more than the history, held back for the incremental run
        business = simulate(DemoConfig(seed=args.seed, scale=args.scale, days=args.days + 1))
        simulated = time.perf_counter() - started
        last_day = business.data_through
        started = time.perf_counter()
        write_file_sources(business, database, root / "landing")
        history = Extract(through=last_day - dt.timedelta(days=1), preliminary_days=0)
        write_api_sources(business, database, history)
        loaded = time.perf_counter() - started
        with duckdb.connect(str(database), read_only=True) as conn:
            raw_rows = {
                name: conn.execute(f"select count(*) from raw.{name}").fetchone()[0]
                for name in ("ga4_traffic_acquisition", "gsc_search_analytics", "crm_contacts")
            }
        print(
            f"scale {args.scale:g}, {args.days} days: simulated in {simulated:.1f} s, raw loaded "
            f"in {loaded:.1f} s; raw rows {raw_rows}",
            flush=True,
        )

        dbt(["parse"], database, target)
        dbt(["seed"], database, target)
        startup = min(
            dbt(["run", "--select", "none_such_model"], database, target) for _ in range(2)
        )
        full = dbt(["run", "--full-refresh"], database, target)
        _, full_models = run_phase(target)
        no_unit_tests = ["--exclude-resource-type", "unit_test", "--exclude-resource-type", "seed"]
        full_build = dbt(["build", "--full-refresh", *no_unit_tests], database, target)
        manifest = root / "manifest_full_build.json"  # compiled_code of every model and test
        shutil.copy(target / "manifest.json", manifest)
        full_facts = dbt(["run", "--full-refresh", "--select", *INCREMENTAL], database, target)

        direct_db = root / "direct" / "flywheel.duckdb"
        direct_db.parent.mkdir()
        shutil.copy(database, direct_db)
        direct, direct_tests, n_models, n_tests = direct_sql(manifest, direct_db)

        write_api_sources(business, database, Extract(through=last_day, preliminary_days=0))
        incremental_facts = dbt(["run", "--select", *INCREMENTAL], database, target)
        incremental_all = dbt(["run"], database, target)

        rounds: dict[str, list[tuple[float, dict[str, float]]]] = {"full": [], "incremental": []}
        for _ in range(args.rounds):
            dbt(["run", "--full-refresh", "--select", *INCREMENTAL], database, target)
            rounds["full"].append(run_phase(target))
            dbt(["run", "--select", *INCREMENTAL], database, target)  # the 4-day window
            rounds["incremental"].append(run_phase(target))

    net = {
        "full": full - startup,
        "full_build": full_build - startup,
        "full_facts": full_facts - startup,
        "incremental_facts": incremental_facts - startup,
        "incremental_all": incremental_all - startup,
    }
    rows = [
        ("(d) dbt start-up, empty selection", startup, None),
        (f"(a) dbt run, all {n_models} models, full", full, net["full"]),
        ("(b) same compiled SQL, one DuckDB connection", direct, direct),
        (f"(a) dbt build: the models + {n_tests} data tests", full_build, net["full_build"]),
        ("(b) same compiled SQL + tests, one connection", direct + direct_tests, None),
        ("    dbt run --full-refresh, the 2 daily facts", full_facts, net["full_facts"]),
        ("(c) dbt run, the 2 daily facts, +1 day", incremental_facts, net["incremental_facts"]),
        ("(c) dbt run, all models, +1 day", incremental_all, net["incremental_all"]),
    ]
    print(f"\n{'step':<48} {'wall s':>8} {'minus start-up':>15}")
    for label, wall, minus in rows:
        print(f"{label:<48} {wall:>8.1f} {'' if minus is None else f'{minus:>15.1f}'}")
    print(
        f"\nfull dbt vs direct SQL: {full / direct:.2f}x wall, "
        f"{net['full'] / direct:.2f}x without start-up (target <= 2x)"
    )
    print(
        f"full dbt build (models + data tests) vs direct SQL: "
        f"{net['full_build'] / (direct + direct_tests):.2f}x without start-up (target <= 2x)"
    )
    print(
        f"one-day incremental run (the daily facts) vs the full run / build: "
        f"{net['incremental_facts'] / net['full']:.0%} / "
        f"{net['incremental_facts'] / net['full_build']:.0%} (target < 15 %)"
    )
    print(
        f"one-day incremental vs full refresh, daily facts: "
        f"{net['incremental_facts'] / net['full_facts']:.0%}"
    )
    print(
        f"one-day run of all models vs full run: {net['incremental_all'] / net['full']:.0%} "
        "(only the two daily facts are incremental)"
    )

    slowest = sorted(full_models.items(), key=lambda item: -item[1])[:8]
    print(
        "\nslowest models of the full run (dbt's clock, s): "
        + ", ".join(f"{model} {seconds:.2f}" for model, seconds in slowest)
    )

    def median(kind: str, model: str | None = None) -> float:
        return statistics.median(
            elapsed if model is None else per_model[model] for elapsed, per_model in rounds[kind]
        )

    print(f"\n(e) {args.rounds} interleaved rounds, dbt's clock (medians, s):")
    print(f"{'':<24} {'full refresh':>12} {'incremental':>12} {'ratio':>7}")
    for label, model in [("run phase", None)] + [(m, m) for m in INCREMENTAL]:
        full_s, incremental_s = median("full", model), median("incremental", model)
        print(f"{label:<24} {full_s:>12.2f} {incremental_s:>12.2f} {incremental_s / full_s:>7.0%}")


if __name__ == "__main__":
    main()
