"""The conversation loader (JSONL: parse, check, redact, type), before and after, side by side.

    .venv/bin/python benchmarks/bench_conversation_loader.py                 # demo scale 30
    .venv/bin/python benchmarks/bench_conversation_loader.py --scale 100 --rounds 2
    .venv/bin/python benchmarks/bench_conversation_loader.py --landing /tmp/landing \\
        --before /tmp/conversations_before.py

Loads the `conversations/` folder of a landing folder (the demo's monthly files, written at
`--scale` into a temporary folder unless `--landing` names one) with `load_new_files` into a
fresh DuckDB file, exactly as the `raw/conversations` asset does, once per variant and round,
each load in a fresh process:

- `before`: the `read_conversation_file` of another copy of conversations.py (`--before`, e.g.
  the previous version saved from git), when given;
- `1 process`: this loader parsing in the loading process only;
- `pool`: this loader as the asset runs it (big files on every core); `pool N` with N
  parsing workers (`--workers`).

Rounds interleave the variants, so that a busy shared machine slows them alike; the table shows
each variant's median seconds, its speed as a multiple of the first variant's, the CPU seconds
it used (the loading process with DuckDB's threads, plus its parsing workers) and peak RSS
(the loading process, and its parsing workers added up). Then the warehouses are compared:
raw.conversations, raw.conversation_messages and raw.quarantine must hold the same rows in
every variant (`except all` both ways, `_loaded_at` aside).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("raw.conversations", "raw.conversation_messages", "raw.quarantine")


def _peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak RSS (VmHWM: ru_maxrss would carry a parent's peak across exec)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _workers() -> tuple[float, float]:
    """Peak RSS (MB) and CPU seconds of this process's children, added up: the parsing
    workers, which stay a few seconds after a load (ranges.SharedPool) and can still be
    asked (getrusage counts children only once they have exited)."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        pids += (task / "children").read_text().split()
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return sum(_peak_rss_mb(pid) for pid in pids), ticks / os.sysconf("SC_CLK_TCK")


def _parser(variant: str, before: str | None):
    from functools import partial

    from flywheel_pipeline.sources.files.conversations import read_conversation_file

    if variant == "before":
        import importlib.util

        spec = importlib.util.spec_from_file_location("conversations_before", before)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        return module.read_conversation_file
    if variant == "1 process":
        return partial(read_conversation_file, workers=1)
    workers = variant.removeprefix("pool").strip()
    return (
        partial(read_conversation_file, workers=int(workers)) if workers else read_conversation_file
    )


def child(variant: str, landing: str, database: str, before: str | None) -> None:
    """Load the landing folder's conversations into `database`; print what it took."""
    import dataclasses

    from flywheel_pipeline.sources.files.drops import CONVERSATIONS_DROP, load_new_files
    from flywheel_pipeline.warehouse import connect

    source = dataclasses.replace(CONVERSATIONS_DROP, parse=_parser(variant, before))
    baseline = _peak_rss_mb()
    with connect(database) as conn:
        started, cpu = time.perf_counter(), time.process_time()
        report = load_new_files(conn, source, Path(landing))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert not report.rejected, report.rejected
    workers_mb, workers_cpu = _workers()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "conversations": report.rows_loaded,
                "quarantined": report.rows_quarantined,
                "baseline_mb": baseline,
                "peak_mb": _peak_rss_mb(),
                "worker_peak_mb": workers_mb,
                "cpu_seconds": cpu + workers_cpu,
            }
        )
    )


def write_landing(scale: float, landing: Path) -> None:
    """The demo's landing files at `scale` (the conversations are the ones measured)."""
    from flywheel_pipeline.sources.demo import DemoConfig
    from flywheel_pipeline.sources.demo.assets import write_demo_files

    write_demo_files(DemoConfig(scale=scale), landing, landing.parent / "demo")


def differences(databases: dict[str, Path]) -> dict[str, int]:
    """Rows of each table that differ between the first warehouse and each other one."""
    import duckdb

    conn = duckdb.connect()
    names = list(databases)
    for index, name in enumerate(names):
        conn.execute(f"attach '{databases[name]}' as w{index} (read_only)")
    differing = {}
    for index, name in enumerate(names[1:], start=1):
        rows = 0
        for table in TABLES:
            for left, right in ((0, index), (index, 0)):
                (count,) = conn.execute(
                    f"select count(*) from (select * exclude (_loaded_at) from w{left}.{table} "
                    f"except all select * exclude (_loaded_at) from w{right}.{table})"
                ).fetchone()
                rows += count
        differing[name] = rows
    return differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=30.0)
    parser.add_argument("--landing", type=Path, help="a landing folder to read instead")
    parser.add_argument("--before", type=Path, help="another conversations.py to compare with")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", help="pool sizes to try")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "LANDING", "DB"))
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:  # in its own process: the simulation's memory stays out of the loads
        write_landing(args.scale, args.write)
        return
    if args.child:
        sys.path.insert(0, str(ROOT))
        child(*args.child, str(args.before) if args.before else None)
        return

    pools = [f"pool {n}" for n in args.workers] if args.workers else ["pool"]
    variants = (["before"] if args.before else []) + ["1 process", *pools]
    with tempfile.TemporaryDirectory() as tmp:
        landing = args.landing
        if landing is None:
            landing = Path(tmp) / "landing"
            command = [sys.executable, __file__, "--scale", str(args.scale), "--write", landing]
            subprocess.run(command, check=True)
        files = sorted((landing / "conversations").glob("*.jsonl"))
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        print(f"{len(files)} conversation files, {megabytes:,.0f} MB ({landing})")
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        databases = {}
        for round_ in range(args.rounds):
            for variant in variants:
                database = Path(tmp) / f"{variant.replace(' ', '_')}_{round_}.duckdb"
                command = [sys.executable, __file__, "--child", variant, str(landing)]
                command += [str(database)] + (["--before", str(args.before)] if args.before else [])
                out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
                runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
                databases[variant] = database
        differing = differences(databases)

    first = statistics.median(r["seconds"] for r in runs[variants[0]])
    print(
        f"{'variant':>10} {'conversations':>13} {'quarantined':>11} {'median s':>9} "
        f"{'speed':>6} {'rounds (s)':>18} {'CPU s':>6} {'peak RSS':>9} {'workers':>8} "
        f"{'rows differing':>14}"
    )
    for variant in variants:
        results = runs[variant]
        seconds = statistics.median(r["seconds"] for r in results)
        cpu = statistics.median(r["cpu_seconds"] for r in results)
        each = " ".join(f"{r['seconds']:.1f}" for r in results)
        last = results[-1]
        workers = f"{last['worker_peak_mb']:,.0f} MB" if last["worker_peak_mb"] else "-"
        print(
            f"{variant:>10} {last['conversations']:>13,} {last['quarantined']:>11,} "
            f"{seconds:>9.1f} {first / seconds:>5.2f}x {each:>18} {cpu:>6.1f} "
            f"{last['peak_mb']:>6,.0f} MB {workers:>8} {differing.get(variant, 0):>14}",
            flush=True,
        )


if __name__ == "__main__":
    main()
