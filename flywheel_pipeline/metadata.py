"""Materialisation metadata shared by the Python assets: row counts and previews."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg
import pandas as pd


def utc_now() -> datetime:
    """Naive UTC wall-clock time, for lineage columns only (never for business logic)."""
    return datetime.now(UTC).replace(tzinfo=None)


def frame_metadata(frame: pd.DataFrame, preview_rows: int = 5, **extra: object) -> dict:
    metadata: dict[str, object] = {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "preview": dg.MetadataValue.md(
            frame.head(preview_rows).to_markdown(index=False) if len(frame) else "_empty_"
        ),
    }
    metadata.update(extra)
    return metadata


def problems_metadata(rejected: Mapping[str, str], quarantined: int) -> dict:
    return {
        "files_rejected": dg.MetadataValue.int(len(rejected)),
        "rows_quarantined": dg.MetadataValue.int(quarantined),
        **(
            {"rejections": dg.MetadataValue.md("\n".join(f"- {r}" for r in rejected.values()))}
            if rejected
            else {}
        ),
    }
