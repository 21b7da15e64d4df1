"""The Search Console resource: hands assets a client for the configured mode."""

from pathlib import Path

import dagster as dg

from flywheel_pipeline.sources.search_console.extract import (
    DemoSearchConsoleClient,
    SearchConsoleClient,
)


class SearchConsoleResource(dg.ConfigurableResource):
    mode: str = "demo"
    demo_snapshot_dir: str = ""
    site_url: str | None = None
    api_endpoint: str | None = None

    @property
    def configured(self) -> bool:
        return self.mode == "demo" or self.site_url is not None

    def client(self) -> SearchConsoleClient:
        if self.mode == "demo":
            return DemoSearchConsoleClient(Path(self.demo_snapshot_dir))
        # The searchanalytics.query extractor (paging, retries) is tracked in issue #3.
        raise NotImplementedError(
            "GSC_SITE_URL is set but live Search Console extraction is not available yet; "
            "unset GSC_SITE_URL or use FLYWHEEL_SOURCE=demo"
        )
