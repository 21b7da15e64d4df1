"""GA4 report definitions: which dimensions and metrics land in which raw table."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    }
)


def snake_case(api_name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", api_name).lower()


@dataclass(frozen=True)
class Ga4Report:
    """One `runReport` request shape, landing in `raw.<table>`."""

    table: str
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [snake_case(name) for name in (*self.dimensions, *self.metrics)]

    @property
    def integer_columns(self) -> list[str]:
        return [snake_case(m) for m in self.metrics if m in INTEGER_METRICS]

    @property
    def float_columns(self) -> list[str]:
        return [snake_case(m) for m in self.metrics if m not in INTEGER_METRICS]


DEFAULT_REPORTS: tuple[Ga4Report, ...] = (
    Ga4Report(
        "ga4_traffic_acquisition",
        (
            "date",
            "sessionSource",
            "sessionMedium",
            "sessionCampaignName",
            "sessionDefaultChannelGroup",
            "landingPage",
            "deviceCategory",
        ),
        ("sessions", "engagedSessions", "newUsers", "keyEvents", "totalRevenue"),
    ),
    Ga4Report(
        "ga4_pages",
        ("date", "pagePath", "pageTitle"),
        ("screenPageViews", "sessions", "engagedSessions", "keyEvents"),
    ),
    Ga4Report("ga4_events", ("date", "eventName"), ("eventCount", "totalUsers")),
    # Users are not additive across rows, so site totals are extracted at their own grain.
    Ga4Report("ga4_site_daily", ("date",), ("sessions", "newUsers", "totalUsers")),
)
