"""GA4 report definitions: which dimensions, metrics and filters land in which raw table.

The defaults live in `flywheel_pipeline/sources/reports.yaml`; `sources/report_file.py`
merges a user's file over them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic
from google.analytics.data_v1beta.types import FilterExpression

from flywheel_pipeline.sources.google.report import GoogleReport

# GA4 returns every value as a string; these metrics are whole numbers, the rest are doubles.
INTEGER_METRICS = frozenset(
    {
        "sessions",
        "engagedSessions",
        "newUsers",
        "totalUsers",
        "activeUsers",
        "screenPageViews",
        "eventCount",
        "transactions",
        "ecommercePurchases",
        "itemsPurchased",
        "itemsViewed",
    }
)
FLAG_TYPES = {
    "is_sampled": "BOOLEAN",
    "subject_to_thresholding": "BOOLEAN",
    "has_other_row": "BOOLEAN",
}
LINEAGE_TYPES = {"_request_id": "VARCHAR", "_page": "BIGINT", "_loaded_at": "TIMESTAMP"}
# The API's limits per request (NOTES.md): 9 dimensions, 10 metrics.
MAX_DIMENSIONS = 9
MAX_METRICS = 10


def snake_case(api_name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", api_name).lower()


def _filter_expression(value: dict[str, Any] | None, field: str) -> dict[str, Any] | None:
    """Check a filter against GA4's own FilterExpression message (camelCase JSON)."""
    if value is None:
        return None
    try:
        to_filter_expression(value)
    except Exception as exc:
        raise ValueError(f"{field} is not a GA4 FilterExpression: {exc}") from None
    return value


def to_filter_expression(value: dict[str, Any]) -> FilterExpression:
    return FilterExpression.from_json(json.dumps(value))


class Ga4Report(GoogleReport):
    """One `runReport` request shape, landing in `raw.<table>`."""

    dimensions: tuple[str, ...] = pydantic.Field(min_length=1, max_length=MAX_DIMENSIONS)
    metrics: tuple[str, ...] = pydantic.Field(min_length=1, max_length=MAX_METRICS)
    dimension_filter: dict[str, Any] | None = None
    metric_filter: dict[str, Any] | None = None

    @pydantic.field_validator("dimension_filter", "metric_filter")
    @classmethod
    def _valid_filter(cls, value: dict[str, Any] | None, info: pydantic.ValidationInfo):
        return _filter_expression(value, info.field_name)

    @property
    def columns(self) -> list[str]:
        return [snake_case(name) for name in (*self.dimensions, *self.metrics)]

    @property
    def integer_columns(self) -> list[str]:
        return [snake_case(m) for m in self.metrics if m in INTEGER_METRICS]

    @property
    def float_columns(self) -> list[str]:
        return [snake_case(m) for m in self.metrics if m not in INTEGER_METRICS]

    @property
    def column_types(self) -> dict[str, str]:
        """The raw table's columns and DuckDB types, fixed up front so that an empty
        extraction or an all-null page cannot change them."""
        types = {snake_case(d): "DATE" if d == "date" else "VARCHAR" for d in self.dimensions}
        types |= {c: "BIGINT" for c in self.integer_columns}
        types |= {c: "DOUBLE" for c in self.float_columns}
        return types | FLAG_TYPES | LINEAGE_TYPES
