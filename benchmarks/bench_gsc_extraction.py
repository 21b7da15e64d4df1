"""Search Console extraction: speed and memory against the local fake, at two row counts.

Usage: .venv/bin/python benchmarks/bench_gsc_extraction.py [--rows 250000 1000000]

For each row count, the fake server runs in its own process (so its memory and CPU are not
counted) and a fresh extractor process pages through `searchanalytics.query` (25 000 rows a
page) with the live client, streaming every page into a temporary DuckDB file exactly as the
asset does. Prints seconds, requests, and the extractor's peak RSS beside its RSS after
imports: if memory does not grow with the row count, the two peaks are about the same.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, DAYS = date(2026, 10, 1), 30


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(rows: int, endpoint: str) -> None:
    """Extract everything from the fake at `endpoint` into a temporary warehouse."""
    from datetime import timedelta

    from flywheel_pipeline.metadata import utc_now
    from flywheel_pipeline.sources.google.stats import ExtractionStats
    from flywheel_pipeline.sources.report_file import load_reports
    from flywheel_pipeline.sources.search_console.extract import page_frame

    report = load_reports().search_console[0]
    from flywheel_pipeline.sources.search_console.live import LiveSearchConsoleClient
    from flywheel_pipeline.warehouse import connect, replace_slice_streaming

    baseline = _rss_mb()
    client = LiveSearchConsoleClient("sc-domain:example.com", api_endpoint=endpoint)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with connect(Path(tmp) / "bench.duckdb") as conn:
            loaded_at = utc_now()
            end = START + timedelta(days=DAYS - 1)
            stats = ExtractionStats()
            pages = client.pages(report, START, end, stats)
            written = replace_slice_streaming(  # as the raw/gsc_search_analytics asset does
                conn,
                "raw.gsc_search_analytics",
                (page_frame(report, page, loaded_at) for page in pages),
                where="date between ? and ?",
                params=[START, end],
                columns=report.column_types,
            )
            counted = conn.execute("select count(*) from raw.gsc_search_analytics").fetchone()[0]
        seconds = time.perf_counter() - started
    assert written == counted == rows, (written, counted, rows)
    print(
        json.dumps(
            {
                "rows": counted,
                "seconds": seconds,
                "requests": stats.requests,
                "retries": stats.retries,
                "baseline_mb": baseline,
                "peak_mb": _rss_mb(),
            }
        )
    )


def run(rows: int) -> dict:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.gsc_server", "--rows", str(rows), "--days", str(DAYS)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = server.stdout.readline().strip()
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(rows), endpoint],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--child", nargs=2, metavar=("ROWS", "ENDPOINT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        child(int(args.child[0]), args.child[1])
        return
    print(
        f"{'rows':>10} {'requests':>8} {'seconds':>8} {'rows/s':>9} "
        f"{'RSS after imports':>18} {'peak RSS':>9}"
    )
    for rows in args.rows:
        r = run(rows)
        print(
            f"{r['rows']:>10,} {r['requests']:>8} {r['seconds']:>8.1f} "
            f"{r['rows'] / r['seconds']:>9,.0f} {r['baseline_mb']:>15,.0f} MB "
            f"{r['peak_mb']:>6,.0f} MB"
        )


if __name__ == "__main__":
    main()
