"""Daily partitions of the Google sources (GA4 and Search Console) and their restatement.

One partitions definition serves both sources so that one run (the `everything` job, a daily
schedule tick, a backfill) can extract a range of days from each. A partition is a calendar
day as the APIs count it (GA4: the property's time zone; Search Console: Pacific time).

GA4 keeps changing a day's numbers for up to 72 hours and Search Console publishes with a
2–3 day lag, so every daily run restates the trailing `RESTATED_DAYS` partitions. A backfill
of any range runs as a single run (`BackfillPolicy.single_run`): one request series per
report for the whole range, rather than one per day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import dagster as dg

RESTATED_DAYS = 3
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
SINGLE_RUN = dg.BackfillPolicy.single_run()


def daily_partitions(start: dt.date, last: dt.date | None = None) -> dg.DailyPartitionsDefinition:
    """Days from `start`; through `last` if given, else through yesterday (UTC), the last
    complete day."""
    end = None if last is None else (last + dt.timedelta(days=1)).isoformat()
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), end_date=end)


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run materialise the partitions `first`..`last`."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def restatement_range(
    partitions: dg.PartitionsDefinition, now: dt.datetime
) -> tuple[str, str] | None:
    """The trailing `RESTATED_DAYS` partitions that exist at `now` (None before the first)."""
    keys = partitions.get_partition_keys(current_time=now)
    if not keys:
        return None
    window = keys[-RESTATED_DAYS:]
    return window[0], window[-1]


def pending_range(keys: Sequence[str], extracted: Iterable[set[str]]) -> tuple[str, str] | None:
    """What a run that catches up should extract: from the first day some source has not
    extracted yet through the last day, or, when every day is in, the trailing restated days."""
    if not keys:
        return None
    missing = [next((k for k in keys if k not in done), None) for done in extracted]
    first = min((k for k in missing if k is not None), default=None)
    if first is None:
        first = keys[-RESTATED_DAYS:][0]
    return first, keys[-1]


def run_days(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
) -> tuple[dt.date, dt.date] | None:
    """First and last day (inclusive) of the partitions the run targets (one picked in the UI,
    or a range), or None for a run without partitions. Works for asset checks too, whose own
    definitions are unpartitioned: the run's tags carry the days."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    # Keys are ISO dates: `daily_partitions` keeps DailyPartitionsDefinition's default format.
    keys = context.partition_key_range
    return dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)


def days_of(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of the partitions this run materialises."""
    days = run_days(context)
    if days is None:
        raise ValueError(
            f"{context.asset_key.to_user_string()} is partitioned by day: run it for a day or a "
            "range of days (the UI's partition picker, a backfill, or run tags "
            f"{RANGE_START_TAG} / {RANGE_END_TAG}; `flywheel demo` does this for you)"
        )
    return days
