"""The GA4 resource: hands assets a client for the configured mode."""

from typing import ClassVar

import pydantic

from flywheel_pipeline.sources.ga4.extract import DemoGa4Client
from flywheel_pipeline.sources.ga4.live import MAX_PAGE_SIZE, LiveGa4Client
from flywheel_pipeline.sources.google.resource import GoogleApiResource


class Ga4Resource(GoogleApiResource):
    """GA4 Data API for one property (GA4_PROPERTY_ID); the shared settings are
    GoogleApiResource's."""

    source: ClassVar[str] = "GA4"
    target_env: ClassVar[str] = "GA4_PROPERTY_ID"
    demo_client: ClassVar[type[DemoGa4Client]] = DemoGa4Client

    property_id: str | None = None
    page_size: int = pydantic.Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @property
    def target(self) -> str | None:
        return self.property_id

    def _live_client(self, target: str) -> LiveGa4Client:
        return LiveGa4Client(
            target,
            api_endpoint=self.api_endpoint,
            credentials_path=self.credentials_path,
            page_size=self.page_size,
            request_timeout=self.request_timeout_seconds,
            retry=self.retry_policy(),
        )
