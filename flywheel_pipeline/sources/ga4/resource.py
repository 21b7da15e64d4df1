"""The GA4 resource: hands assets a client for the configured mode."""

from pathlib import Path

import pydantic

from flywheel_pipeline.sources.ga4.extract import DemoGa4Client, Ga4Client
from flywheel_pipeline.sources.ga4.live import MAX_PAGE_SIZE, LiveGa4Client
from flywheel_pipeline.sources.google.resource import GoogleApiResource


class Ga4Resource(GoogleApiResource):
    """GA4 Data API for one property (GA4_PROPERTY_ID); the shared settings are
    GoogleApiResource's."""

    property_id: str | None = None
    page_size: int = pydantic.Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @property
    def configured(self) -> bool:
        return self.mode == "demo" or self.property_id is not None

    def client(self) -> Ga4Client:
        if self.mode == "demo":
            return DemoGa4Client(Path(self.demo_snapshot_dir))
        if self.property_id is None:
            raise ValueError("GA4_PROPERTY_ID is not set; GA4 extraction is skipped")
        return LiveGa4Client(
            self.property_id,
            api_endpoint=self.api_endpoint,
            credentials_path=self.credentials_path,
            page_size=self.page_size,
            request_timeout=self.request_timeout_seconds,
            retry=self.retry_policy(),
        )
