"""`flywheel simulate` against `flywheel demo`, side by side in one run, each into a fresh
temporary FLYWHEEL_HOME: the seconds of every cycle (the first builds the whole history, the
later ones ingest and rebuild only what is new) and one later cycle as a share of a full demo.

Usage: .venv/bin/python benchmarks/bench_simulate.py [--scale 1] [--cycles 2] [--control]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROW = re.compile(r"^(treated|control)\s+(\d+)\s.*\s(\d+)s$")


def _run(args: list[str], home: str) -> tuple[float, str]:
    env = {**os.environ, "FLYWHEEL_HOME": home}
    env.pop("DAGSTER_HOME", None)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--cycles", type=int, default=2)
    parser.add_argument("--control", action="store_true")
    args = parser.parse_args()
    flywheel = str(Path(sys.executable).with_name("flywheel"))
    with tempfile.TemporaryDirectory() as home:
        demo_seconds, _ = _run([flywheel, "demo", "--scale", str(args.scale)], home)
    command = [flywheel, "simulate", "--scale", str(args.scale), "--cycles", str(args.cycles)]
    with tempfile.TemporaryDirectory() as home:
        total, output = _run([*command, *([] if args.control else ["--no-control"])], home)
    cycles = [m.groups() for line in output.splitlines() if (m := ROW.match(line.strip()))]
    print(f"flywheel demo, scale {args.scale:g}: {demo_seconds:.0f} s")
    arms = " with control" if args.control else ""
    print(f"flywheel simulate, {args.cycles} cycles{arms}: {total:.0f} s")
    for arm, cycle, seconds in cycles:
        share = int(seconds) / demo_seconds
        print(f"  {arm:<8} cycle {cycle}: {seconds:>4} s ({share:.0%} of a full demo)")


if __name__ == "__main__":
    main()
