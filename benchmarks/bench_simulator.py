"""Time the demo simulator: simulate + write_landing_files at several scales, side by side.

    .venv/bin/python benchmarks/bench_simulator.py            # scales 1 and 10
    .venv/bin/python benchmarks/bench_simulator.py --scales 0.1 1 10

Each scale runs in its own process so that peak RSS is that scale's own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(scale: float, days: int) -> dict:
    from flywheel_pipeline.sources.demo import DemoConfig, simulate, write_landing_files

    start = time.perf_counter()
    business = simulate(DemoConfig(scale=scale, days=days))
    simulated = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_landing_files(business, Path(tmp))
        size = sum(p.stat().st_size for p in files)
    written = time.perf_counter()
    rows = {f"crm.{k}": len(v) for k, v in business.crm.items()}
    rows["conversations"] = len(business.conversations)
    rows |= {f"ga4.{k}": len(v) for k, v in business.ga4.items()}
    rows["gsc"] = len(business.gsc)
    rows["truth.customers"] = len(business.truth["customers"])
    return {
        "rows": rows,
        "simulate_s": simulated - start,
        "write_s": written - simulated,
        "total_s": written - start,
        "landing_mb": size / 1e6,
        "files": len(files),
        # ru_maxrss is in KiB on Linux
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_child(args.child, args.days)))
        return

    results = {}
    for scale in args.scales:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(scale), "--days", str(args.days)],
            check=True,
            capture_output=True,
            text=True,
        )
        results[scale] = json.loads(out.stdout.strip().splitlines()[-1])

    names = list(next(iter(results.values()))["rows"])
    header = f"{'':24}" + "".join(f"{f'scale {s:g}':>14}" for s in results)
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
        ("files", "landing files", "{:>14}"),
        ("landing_mb", "landing size (MB)", "{:>14.1f}"),
        ("peak_rss_mb", "peak RSS (MB)", "{:>14.0f}"),
    ):
        print(f"{label:24}" + "".join(fmt.format(r[key]) for r in results.values()))


if __name__ == "__main__":
    main()
