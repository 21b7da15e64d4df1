"""The Search Console resource: hands assets a client for the configured mode."""

from pathlib import Path

import dagster as dg
import pydantic

from flywheel_pipeline.sources.search_console.extract import (
    DemoSearchConsoleClient,
    SearchConsoleClient,
)
from flywheel_pipeline.sources.search_console.live import (
    MAX_ROW_LIMIT,
    LiveSearchConsoleClient,
    RetryPolicy,
)


class SearchConsoleResource(dg.ConfigurableResource):
    """`mode` demo serves the simulator's snapshot; live calls `searchanalytics.query`.

    Live mode asks for `dataState: all` (fresh, possibly incomplete days are included and
    flagged; the daily run restates them). Credentials come from
    GOOGLE_APPLICATION_CREDENTIALS (a service-account key file); with an `http://` endpoint
    and no key file the client is anonymous.
    """

    mode: str = "demo"
    demo_snapshot_dir: str = ""
    site_url: str | None = None
    api_endpoint: str | None = None
    row_limit: int = pydantic.Field(default=MAX_ROW_LIMIT, ge=1, le=MAX_ROW_LIMIT)
    data_state: str = "all"
    timeout_seconds: float = 120.0
    max_attempts: int = pydantic.Field(default=6, ge=1)
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 64.0

    @property
    def configured(self) -> bool:
        return self.mode == "demo" or self.site_url is not None

    def client(self) -> SearchConsoleClient:
        if self.mode == "demo":
            return DemoSearchConsoleClient(Path(self.demo_snapshot_dir))
        if self.site_url is None:
            raise ValueError("GSC_SITE_URL: not set; live Search Console extraction needs it")
        return LiveSearchConsoleClient(
            self.site_url,
            api_endpoint=self.api_endpoint,
            row_limit=self.row_limit,
            data_state=self.data_state,
            timeout=self.timeout_seconds,
            retry=RetryPolicy(
                max_attempts=self.max_attempts,
                initial_delay=self.initial_backoff_seconds,
                max_delay=self.max_backoff_seconds,
            ),
            logger=dg.get_dagster_logger(),
        )
