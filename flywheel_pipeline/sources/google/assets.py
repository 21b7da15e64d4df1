"""The raw asset of one GA4 or Search Console report, partitioned by day: what both sources'
assets share. Each source says what its asset is about, what a failed extraction raises, and
how its pages become raw frames and what they tell the materialisation (its tally)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

import dagster as dg
import duckdb
import pandas as pd

from flywheel_pipeline.metadata import column_schema_metadata, utc_now
from flywheel_pipeline.sources.google.resource import GoogleApiResource
from flywheel_pipeline.sources.google.snapshot import replaced_rows, rows_outside, served_metadata
from flywheel_pipeline.sources.google.stats import ExtractionStats
from flywheel_pipeline.sources.partitions import SINGLE_RUN, days_of
from flywheel_pipeline.sources.source_health import extract_keeping_last_good
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, replace_slice_streaming


class Tally(Protocol):
    """Turns a source's pages into raw frames as they stream past, keeping what the
    materialisation shows of them; the client counts requests, pages and rows in `stats`."""

    stats: ExtractionStats

    def frames(
        self, report: Any, pages: Iterator[Any], loaded_at: datetime
    ) -> Iterator[pd.DataFrame]: ...

    def metadata(self) -> dict[str, object]: ...


def report_asset(
    report: Any,
    deps: Sequence[dg.AssetKey],
    partitions: dg.PartitionsDefinition,
    *,
    kinds: set[str],
    about: str,
) -> Callable[[Callable[..., dg.MaterializeResult]], dg.AssetsDefinition]:
    """The decorator of `report`'s raw asset, `raw/<report.table>`; `about` opens its
    description."""
    return dg.asset(
        key=["raw", report.table],
        group_name="sources",
        kinds=kinds,
        pool=WAREHOUSE_POOL,
        deps=deps,
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        description=(
            f"{about} One partition per day; a run replaces the rows of the days it extracts "
            "and, when the source states the days it serves (the demo's snapshot: the "
            "simulated days), deletes those of every other day."
        ),
    )


def extract_report(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    resource: GoogleApiResource,
    report: Any,
    tally: Tally,
    errors: tuple[type[BaseException], ...],
) -> dg.MaterializeResult:
    """Replace the partition's days of `raw.<report.table>` with what `resource`'s client
    serves. A failed extraction (one of `errors`) keeps the last good rows and the
    `extraction_succeeded` check fails the run (sources/source_health.py)."""
    start, end = days_of(context)
    if not resource.configured:
        # Nothing is written: the rows of earlier runs stay as they were.
        context.log.info(f"{resource.target_env} is not set: {resource.source} extraction skipped")
        return dg.MaterializeResult(
            metadata={"days": f"{start} .. {end}", "skipped": f"{resource.target_env} unset"}
        )
    relation = f"raw.{report.table}"

    def extract(conn: duckdb.DuckDBPyConnection) -> dict[str, object]:
        client = resource.client()
        served = client.served_days(report)
        outside = rows_outside(conn, "raw", report.table, served)
        where, params = replaced_rows((start, end), served)
        pages = client.pages(report, start, end, tally.stats)
        # Pages stream into a staging table; the days' old rows (and those of days the
        # source says it does not serve) are swapped for the new ones in one transaction at
        # the end: memory stays flat whatever the row count, and a failed request (after its
        # retries) or a spent quota leaves the table as it was, never half a range.
        replace_slice_streaming(
            conn,
            relation,
            tally.frames(report, pages, utc_now()),
            where=where,
            params=params,
            columns=report.column_types,
        )
        return {
            **tally.metadata(),
            **served_metadata(served, outside),
            **column_schema_metadata(conn, relation),
        }

    return extract_keeping_last_good(
        context,
        warehouse,
        source=resource.source,
        relation=relation,
        days=(start, end),
        extract=extract,
        errors=errors,
    )
