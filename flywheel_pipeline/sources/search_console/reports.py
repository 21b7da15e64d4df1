"""Search Console report definitions: dimensions, search type and filters per raw table.

The defaults live in `flywheel_pipeline/sources/reports.yaml`; `sources/report_file.py`
merges a user's file over them. Metrics are always the four the API returns.
"""

from __future__ import annotations

from typing import Literal

import pydantic

from flywheel_pipeline.sources.google.report import GoogleReport

METRICS = ("clicks", "impressions", "ctr", "position")
Dimension = Literal["date", "query", "page", "country", "device", "searchAppearance"]
METRIC_TYPES = {"clicks": "BIGINT", "impressions": "BIGINT", "ctr": "DOUBLE", "position": "DOUBLE"}
TAIL_TYPES = {
    "data_state": "VARCHAR",
    "first_incomplete_date": "DATE",
    "_request_id": "VARCHAR",
    "_page": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}


class DimensionFilter(pydantic.BaseModel):
    """One filter of `dimensionFilterGroups[].filters[]`, in the API's own names."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    dimension: Literal["country", "device", "page", "query", "searchAppearance"]
    operator: Literal[
        "equals", "notEquals", "contains", "notContains", "includingRegex", "excludingRegex"
    ] = "equals"
    expression: str


class DimensionFilterGroup(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    group_type: Literal["and"] = pydantic.Field(default="and", alias="groupType")
    filters: tuple[DimensionFilter, ...] = pydantic.Field(min_length=1)


class SearchConsoleReport(GoogleReport):
    """One `searchanalytics.query` request shape, landing in `raw.<table>`."""

    dimensions: tuple[Dimension, ...] = pydantic.Field(min_length=1)
    search_type: Literal["web", "image", "video", "news", "discover", "googleNews"] = "web"
    dimension_filter_groups: tuple[DimensionFilterGroup, ...] = ()

    @pydantic.field_validator("dimensions")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a dimension is listed twice")
        return value

    @property
    def columns(self) -> list[str]:
        return [column_name(d) for d in self.dimensions]

    @property
    def column_types(self) -> dict[str, str]:
        """The raw table's columns and DuckDB types (docs/contracts.md), fixed up front."""
        types = {column_name(d): "DATE" if d == "date" else "VARCHAR" for d in self.dimensions}
        return types | METRIC_TYPES | TAIL_TYPES

    def request_body(self) -> dict:
        """The parts of the request body this definition decides (dates and paging aside)."""
        body: dict = {"dimensions": list(self.dimensions), "type": self.search_type}
        if self.dimension_filter_groups:
            body["dimensionFilterGroups"] = [
                group.model_dump(by_alias=True, mode="json")
                for group in self.dimension_filter_groups
            ]
        return body


def column_name(dimension: str) -> str:
    return "search_appearance" if dimension == "searchAppearance" else dimension
