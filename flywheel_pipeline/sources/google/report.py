"""What every GA4 and Search Console report definition has; each source adds its own shape
(sources/ga4/reports.py, sources/search_console/reports.py)."""

from __future__ import annotations

import pydantic


class GoogleReport(pydantic.BaseModel):
    """One request shape, landing in `raw.<table>`; extraction is partitioned by day, so its
    dimensions include `date`."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    table: str = pydantic.Field(pattern=r"^[a-z][a-z0-9_]*$")
    dimensions: tuple[str, ...] = pydantic.Field(min_length=1)
    enabled: bool = True

    @pydantic.field_validator("dimensions")
    @classmethod
    def _partitioned_by_date(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "date" not in value:
            raise ValueError("must include `date` (extraction is partitioned by day)")
        return value
