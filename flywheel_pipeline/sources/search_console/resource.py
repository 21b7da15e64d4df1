"""The Search Console resource: hands assets a client for the configured mode."""

from typing import ClassVar

import dagster as dg
import pydantic

from flywheel_pipeline.sources.google.resource import GoogleApiResource
from flywheel_pipeline.sources.search_console.extract import DemoSearchConsoleClient
from flywheel_pipeline.sources.search_console.live import MAX_ROW_LIMIT, LiveSearchConsoleClient


class SearchConsoleResource(GoogleApiResource):
    """`searchanalytics.query` for one site (GSC_SITE_URL); the shared settings are
    GoogleApiResource's.

    Live mode asks for `dataState: all` (fresh, possibly incomplete days are included and
    flagged; the daily run restates them).
    """

    source: ClassVar[str] = "Search Console"
    target_env: ClassVar[str] = "GSC_SITE_URL"
    demo_client: ClassVar[type[DemoSearchConsoleClient]] = DemoSearchConsoleClient

    site_url: str | None = None
    row_limit: int = pydantic.Field(default=MAX_ROW_LIMIT, ge=1, le=MAX_ROW_LIMIT)
    data_state: str = "all"
    # Search Analytics answers for months of a large site take longer than GA4's pages.
    request_timeout_seconds: float = pydantic.Field(default=120.0, gt=0)

    @property
    def target(self) -> str | None:
        return self.site_url

    def _live_client(self, target: str) -> LiveSearchConsoleClient:
        return LiveSearchConsoleClient(
            target,
            api_endpoint=self.api_endpoint,
            credentials_file=self.credentials_path,
            row_limit=self.row_limit,
            data_state=self.data_state,
            timeout=self.request_timeout_seconds,
            retry=self.retry_policy(),
            logger=dg.get_dagster_logger(),
        )
