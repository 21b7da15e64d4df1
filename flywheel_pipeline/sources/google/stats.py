"""What one extraction cost and found, for any Google source."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg


@dataclass
class ExtractionStats:
    """Filled in by a client as its pages go by. `requests` counts every HTTP attempt,
    `pages` the successful ones, `retries` the attempts that were retried (by problem in
    `retried`), `rows` the rows received; `flags` holds the data-quality flags any page
    carried (GA4's sampling and thresholding)."""

    requests: int = 0
    pages: int = 0
    retries: int = 0
    rows: int = 0
    retried: Counter[str] = field(default_factory=Counter)
    flags: set[str] = field(default_factory=set)

    def add_page(self, rows: int, flags: Iterable[str] = ()) -> None:
        self.pages += 1
        self.rows += rows
        self.flags.update(flags)

    def metadata(self) -> dict[str, dg.MetadataValue]:
        """What the asset's materialisation shows of the extraction's cost."""
        return {
            "dagster/row_count": dg.MetadataValue.int(self.rows),
            "requests": dg.MetadataValue.int(self.requests),
            "retries": dg.MetadataValue.int(self.retries),
            "pages": dg.MetadataValue.int(self.pages),
        }
