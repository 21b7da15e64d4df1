"""File drops: loading a big orders CSV through the real loader, time and memory by size.

Usage: .venv/bin/python benchmarks/bench_file_loading.py [--mb 100 500 1000] [--keep DIR]

For each size, writes an orders CSV of about that many MB into a temporary landing folder
(mixed UTC offsets, an extra column, one bad row in every 10 000), then a fresh process loads
it with `load_new_files` into a fresh DuckDB file, exactly as the `raw/crm_orders` asset does,
and loads it again (an unchanged file: hashed and skipped). Prints seconds, rows loaded and
quarantined, and the loader's peak RSS beside its RSS after imports: when memory does not grow
with the file, the peaks are about the same for every size.
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

ROOT = Path(__file__).resolve().parents[1]
ROWS_PER_BATCH = 500_000
BAD_ROW_EVERY = 10_000


def _peak_rss_mb() -> float:
    """This process's peak RSS. Linux carries ru_maxrss across exec (a child would report its
    parent's peak), so read the high-water mark of the current image where there is one."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_orders(path: Path, megabytes: int) -> None:
    """An orders CSV of about `megabytes` MB."""
    import numpy as np
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    target = megabytes * 1_000_000
    rows = 0
    start = np.datetime64("2025-01-01T00:00:00")
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("order_id,contact_id,ordered_at,revenue,items,coupon\n")
        while out.tell() < target:
            i = np.arange(rows, rows + ROWS_PER_BATCH)
            moments = np.datetime_as_string(start + (i * 37 % 31_536_000).astype("m8[s]"))
            offsets = np.where(i % 2 == 0, "Z", "+02:00")
            revenue = np.char.mod("%.2f", (i % 99_991) / 100)
            revenue = np.where(i % BAD_ROW_EVERY == 7, "-1.00", revenue)  # quarantined
            batch = pd.DataFrame(
                {
                    "order_id": np.char.add("o", i.astype(str)),
                    "contact_id": np.char.add("c", (i % 250_000).astype(str)),
                    "ordered_at": np.char.add(moments, offsets),
                    "revenue": revenue,
                    "items": (i % 5 + 1).astype(str),
                    "coupon": np.where(i % 7 == 0, "SPRING", ""),
                }
            )
            out.write(batch.to_csv(index=False, header=False, lineterminator="\n"))
            rows += ROWS_PER_BATCH


def child(landing: str, database: str) -> None:
    """Load the landing folder twice into `database`; print what it took."""
    from flywheel_pipeline.sources.files.drops import load_new_files, table_drop
    from flywheel_pipeline.sources.files.schemas import CRM_TABLES
    from flywheel_pipeline.warehouse import connect

    orders = table_drop(next(t for t in CRM_TABLES if t.name == "crm_orders"))
    baseline = _peak_rss_mb()
    with connect(database) as conn:
        started = time.perf_counter()
        report = load_new_files(conn, orders, Path(landing))
        seconds = time.perf_counter() - started
        (counted,) = conn.execute("select count(*) from raw.crm_orders").fetchone()
        started = time.perf_counter()
        rerun = load_new_files(conn, orders, Path(landing))
        rerun_seconds = time.perf_counter() - started
    assert report.rows_loaded == counted and len(rerun.unchanged) == 1, (report, rerun)
    print(
        json.dumps(
            {
                "rows": counted,
                "quarantined": report.rows_quarantined,
                "seconds": seconds,
                "rerun_seconds": rerun_seconds,
                "baseline_mb": baseline,
                "peak_mb": _peak_rss_mb(),
            }
        )
    )


def run(megabytes: int, workdir: Path) -> dict:
    landing = workdir / f"landing_{megabytes}"
    csv = landing / "crm" / "orders" / "orders.csv"
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--write", str(csv), str(megabytes)], check=True)
    generated = time.perf_counter() - started
    database = workdir / f"bench_{megabytes}.duckdb"
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(landing), str(database)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return {**measured, "file_mb": csv.stat().st_size / 1e6, "generated_s": generated}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--keep", type=Path, help="write files here instead of a temp folder")
    parser.add_argument("--child", nargs=2, metavar=("LANDING", "DB"), help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, metavar=("CSV", "MB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:  # in its own process, so the loaders' processes start small
        write_orders(Path(args.write[0]), int(args.write[1]))
        return
    if args.child:
        sys.path.insert(0, str(ROOT))
        child(*args.child)
        return
    print(
        f"{'file':>9} {'rows':>12} {'quarantined':>11} {'seconds':>8} {'MB/s':>6} "
        f"{'rerun s':>8} {'RSS after imports':>18} {'peak RSS':>9}"
    )
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        for megabytes in args.mb:
            r = run(megabytes, Path(tmp))
            print(
                f"{r['file_mb']:>6,.0f} MB {r['rows']:>12,} {r['quarantined']:>11,} "
                f"{r['seconds']:>8.1f} {r['file_mb'] / r['seconds']:>6.1f} "
                f"{r['rerun_seconds']:>8.1f} {r['baseline_mb']:>15,.0f} MB "
                f"{r['peak_mb']:>6,.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
