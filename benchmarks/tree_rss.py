"""Run a command and sample the memory of its whole process tree (every process it starts).

    .venv/bin/python benchmarks/tree_rss.py run.log -- .venv/bin/flywheel demo --scale 100

Prints the exit code, the time, the peak RSS of the tree (with when it happened) and one
line every ten seconds; the command's output goes to the log file. `ru_maxrss` cannot do
this: it reports the largest single process, and the demo's simulator, dbt and the run's
own process each peak at a different time. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path


def children() -> dict[int, list[int]]:
    """Parent pid → child pids, for every process now running."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss_mb(root: int) -> float:
    tree, pending, total = children(), [root], 0.0
    while pending:
        pid = pending.pop()
        total += rss_mb(pid)
        pending += tree.get(pid, [])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    started = time.monotonic()
    with args.log.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        peak, peak_at, samples = 0.0, 0.0, []
        while process.poll() is None:
            now, total = time.monotonic() - started, tree_rss_mb(process.pid)
            samples.append((now, total))
            if total > peak:
                peak, peak_at = total, now
            time.sleep(1)
    elapsed = time.monotonic() - started
    print(f"rc {process.returncode}  {elapsed:.0f} s  peak {peak:,.0f} MB at {peak_at:.0f} s")
    for at, total in samples[::10]:
        print(f"{at:6.0f} s {total:8,.0f} MB")


if __name__ == "__main__":
    main()
