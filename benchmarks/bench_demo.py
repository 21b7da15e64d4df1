"""Time `flywheel demo` end to end (after install) into a fresh temporary FLYWHEEL_HOME.

Usage: .venv/bin/python benchmarks/bench_demo.py [--scale 1] [--runs 1]
Prints wall time per run and the peak RSS of the process tree's largest child.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    flywheel = Path(sys.executable).with_name("flywheel")
    print(f"{'run':>4} {'scale':>6} {'seconds':>8}")
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "FLYWHEEL_HOME": home, "FLYWHEEL_DEMO_SCALE": str(args.scale)}
            env.pop("DAGSTER_HOME", None)
            started = time.perf_counter()
            subprocess.run([str(flywheel), "demo"], env=env, check=True, capture_output=True)
            elapsed = time.perf_counter() - started
        print(f"{run:>4} {args.scale:>6g} {elapsed:>8.1f}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of the largest child process: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
