"""Time the demo simulator: simulate + write_landing_files at several scales, side by side.

    .venv/bin/python benchmarks/bench_simulator.py            # scales 1 and 10
    .venv/bin/python benchmarks/bench_simulator.py --scales 0.1 1 10
    # before/after: a copy of the old package (its parent folder) as the "before" column
    cp -r flywheel_pipeline /tmp/old/ && ... edit ...
    .venv/bin/python benchmarks/bench_simulator.py --scales 10 100 --before /tmp/old

Each run is a process of its own, so that its peak is its own: the peak is the RSS of the
process and anything it starts, sampled every 0.2 s (`tree_rss.py`), or its own `ru_maxrss`
if that is higher. `--before-max-scale` skips the old package above a scale (its memory grows
with the population: scale 1000 would need ~20 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from tree_rss import tree_rss_mb


def _rows(tables, name: str) -> int:
    # Spilled tables know their size; reading one whole just to count it would be the peak.
    return tables.rows(name) if hasattr(tables, "rows") else len(tables[name])


def _child(scale: float, days: int) -> dict:
    from flywheel_pipeline.sources.demo import DemoConfig, simulate, write_landing_files

    start = time.perf_counter()
    business = simulate(DemoConfig(scale=scale, days=days))
    simulated = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_landing_files(business, Path(tmp))
        size = sum(p.stat().st_size for p in files)
    written = time.perf_counter()
    rows = {f"crm.{k}": _rows(business.crm, k) for k in business.crm}
    rows["conversations"] = len(business.conversations)
    rows |= {f"ga4.{k}": len(v) for k, v in business.ga4.items()}
    rows["gsc"] = len(business.gsc)
    rows["truth.customers"] = _rows(business.truth, "customers")
    return {
        "rows": rows,
        "simulate_s": simulated - start,
        "write_s": written - simulated,
        "total_s": written - start,
        # Wall time depends on what else the machine runs; CPU time much less so. Children:
        # the processes that render conversations beside this one.
        "cpu_s": sum(
            usage.ru_utime + usage.ru_stime
            for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        ),
        "landing_mb": size / 1e6,
        "files": len(files),
        # ru_maxrss is in KiB on Linux
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run(scale: float, days: int, package: str | None) -> dict:
    env = dict(os.environ)
    if package:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package, env.get("PYTHONPATH")]))
    command = [sys.executable, __file__, "--child", str(scale), "--days", str(days)]
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, stdout=out, env=env)
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, tree_rss_mb(process.pid))
            time.sleep(0.2)
        if process.returncode:
            raise SystemExit(f"scale {scale:g} ({package or 'current'}) failed")
        out.seek(0)
        result = json.loads(out.read().strip().splitlines()[-1])
    result["peak_rss_mb"] = max(peak, result["peak_rss_mb"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--before", help="folder holding the old flywheel_pipeline package")
    parser.add_argument("--before-max-scale", type=float, default=float("inf"))
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_child(args.child, args.days)))
        return

    results = {}
    for scale in args.scales:
        if args.before and scale <= args.before_max_scale:
            results[f"{scale:g} before"] = _run(scale, args.days, args.before)
        results[f"{scale:g} now" if args.before else f"{scale:g}"] = _run(scale, args.days, None)

    names = list(next(iter(results.values()))["rows"])
    header = f"{'scale':24}" + "".join(f"{label:>14}" for label in results)
    print(f"demo simulator, {args.days} days")
    print(header)
    print("-" * len(header))
    for name in names:
        print(f"{name:24}" + "".join(f"{r['rows'][name]:>14,}" for r in results.values()))
    print("-" * len(header))
    for key, label, fmt in (
        ("simulate_s", "simulate (s)", "{:>14.2f}"),
        ("write_s", "write landing (s)", "{:>14.2f}"),
        ("total_s", "total (s)", "{:>14.2f}"),
        ("cpu_s", "CPU, all processes (s)", "{:>14.2f}"),
        ("files", "landing files", "{:>14}"),
        ("landing_mb", "landing size (MB)", "{:>14.1f}"),
        ("peak_rss_mb", "peak RSS (MB)", "{:>14.0f}"),
    ):
        print(f"{label:24}" + "".join(fmt.format(r[key]) for r in results.values()))


if __name__ == "__main__":
    main()
