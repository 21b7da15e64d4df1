"""Decision files: how a decision on a recommendation reaches the warehouse.

A decision is a row of a CSV in ``landing/decisions/`` (columns of ``schemas.DECISIONS``),
loaded like any file drop: append-only, so the history of decisions is kept. `flywheel
recommendations accept|reject|done` writes one file per decision; `flywheel simulate` one file
per cycle.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flywheel_pipeline.settings import Settings
from flywheel_pipeline.sources.files.schemas import DECISIONS

DECISION_COLUMNS = [column.name for column in DECISIONS.columns]


def decision_time(settings: Settings) -> datetime:
    """When a decision taken now happens. Live: now. The demo's data end on a fixed day, so
    its decisions are dated in simulated time, as soon as that day's data has been seen (the
    next midnight UTC): dated by the wall clock they would lie months after the data and
    never be measured."""
    if settings.source != "demo":
        return datetime.now(UTC)
    from flywheel_pipeline.sources.definitions import demo_config

    last_day = demo_config(settings).end_date
    return datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC) + timedelta(days=1)


def write_decision_file(
    landing_dir: Path, name: str, decisions: Iterable[tuple[str, str, datetime, str]]
) -> Path:
    """Write ``(recommendation_id, status, decided_at, note)`` rows to
    ``landing/decisions/<name>.csv`` (atomically: the loader never sees half a file)."""
    folder = Path(landing_dir) / "decisions"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    partial = folder / f".{name}.csv.partial"
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DECISION_COLUMNS)
        for rec_id, status, decided_at, note in decisions:
            writer.writerow([rec_id, status, decided_at.isoformat(), note])
    partial.replace(path)
    return path
