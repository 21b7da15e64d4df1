"""The GA4 resource: hands assets a client for the configured mode."""

from pathlib import Path

import dagster as dg

from flywheel_pipeline.sources.ga4.extract import DemoGa4Client, Ga4Client


class Ga4Resource(dg.ConfigurableResource):
    """`mode` demo serves the simulator's data; live talks to the GA4 Data API."""

    mode: str = "demo"
    demo_snapshot_dir: str = ""
    property_id: str | None = None
    api_endpoint: str | None = None

    @property
    def configured(self) -> bool:
        return self.mode == "demo" or self.property_id is not None

    def client(self) -> Ga4Client:
        if self.mode == "demo":
            return DemoGa4Client(Path(self.demo_snapshot_dir))
        # The Data API extractor (paging, retries, quotas) is tracked in issue #3.
        raise NotImplementedError(
            "GA4_PROPERTY_ID is set but live GA4 extraction is not available yet; "
            "unset GA4_PROPERTY_ID or use FLYWHEEL_SOURCE=demo"
        )
