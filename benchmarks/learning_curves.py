"""Learning curves of the lead, deal and customer-value models: the holdout metric against the
number of training rows, beside the naive baseline's, on one demo warehouse.

Usage: .venv/bin/python benchmarks/learning_curves.py WAREHOUSE.duckdb [--model lead ...]

Reads the warehouse (read-only) the way the assets do, then trains each model with its
training cap set to each size (a stratified sample, as in production; "all" = no cap) and
prints the holdout metrics from its ``model_runs`` rows. The caps (``MAX_TRAIN``,
``MAX_TRAIN_DEALS``, ``MAX_FIT_CUSTOMERS``) sit where more rows stop improving the holdout.
"""

from __future__ import annotations

import argparse
import time

import duckdb

from flywheel_pipeline.insights import deal_rows, lead_rows
from flywheel_pipeline.insights.customer_summaries import summaries
from flywheel_pipeline.insights.customer_value import value_summaries
from flywheel_pipeline.insights.deal_scoring import score_deal_rows
from flywheel_pipeline.insights.lead_scoring import score_lead_rows

ALL = 10**9
CLASSIFICATION = ["auc", "brier", "lift_top_decile"]
LEADS = [5_000, 10_000, 25_000, 50_000, 100_000, ALL]
DEALS = [1_000, 2_500, 5_000, 10_000, 20_000, ALL]
CUSTOMERS = [5_000, 10_000, 25_000, 50_000, ALL]


def _summaries(conn: duckdb.DuckDBPyConnection) -> dict:
    return {"summaries": summaries(conn)}  # summed in the warehouse


def _lead_rows(conn: duckdb.DuckDBPyConnection) -> dict:
    return {"conn": conn, "relations": lead_rows.warehouse_relations()}  # numbered there


def _deal_rows(conn: duckdb.DuckDBPyConnection) -> dict:
    return {"conn": conn, "relations": deal_rows.warehouse_relations()}  # replayed there


# name: (read the inputs, train with a cap, the cap's keyword, the caps to try, metrics)
MODELS = {
    "lead": (_lead_rows, score_lead_rows, "max_train", LEADS, CLASSIFICATION),
    "deal": (_deal_rows, score_deal_rows, "max_train_deals", DEALS, CLASSIFICATION),
    "value": (_summaries, value_summaries, "max_fit", CUSTOMERS, ["correlation", "rmse", "auc"]),
}


def curve(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    read, train, cap, sizes, metrics = MODELS[name]
    inputs = read(conn)
    header = " | ".join(f"{m} (baseline)" for m in metrics)
    print(f"\n{name}: {cap}\n\n| size | train rows | {header} | seconds |")
    print("|---|---|" + "---|" * len(metrics) + "---|", flush=True)
    for size in sizes:
        started = time.perf_counter()
        runs = train(**inputs, **{cap: size}).model_runs.set_index("metric")
        cells = " | ".join(
            f"{runs.at[m, 'value']:.4f} ({runs.at[m, 'baseline_value']:.4f})" for m in metrics
        )
        label = "all" if size == ALL else f"{size:,}"
        seconds = time.perf_counter() - started
        train_rows = int(runs["train_rows"].iloc[0])
        print(f"| {label} | {train_rows:,} | {cells} | {seconds:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("warehouse")
    parser.add_argument("--model", action="append", choices=sorted(MODELS))
    args = parser.parse_args()
    conn = duckdb.connect(args.warehouse, read_only=True)
    for name in args.model or list(MODELS):
        curve(conn, name)


if __name__ == "__main__":
    main()
