"""The GA4 resource: hands assets a client for the configured mode."""

from pathlib import Path

import dagster as dg
import pydantic

from flywheel_pipeline.sources.ga4.extract import DemoGa4Client, Ga4Client
from flywheel_pipeline.sources.ga4.live import MAX_PAGE_SIZE, LiveGa4Client, RetryPolicy


class Ga4Resource(dg.ConfigurableResource):
    """`mode` demo serves the simulator's data; live talks to the GA4 Data API.

    `credentials_path` is a service-account key file; left unset, the client reads
    `GOOGLE_APPLICATION_CREDENTIALS` itself when it is built, so the path never enters the
    run's config (wire it with `dg.EnvVar("GOOGLE_APPLICATION_CREDENTIALS")` if it must be
    explicit: Dagster shows an EnvVar's name, not its value). With an `http://` endpoint and no
    key file the client uses anonymous credentials.
    """

    mode: str = "demo"
    demo_snapshot_dir: str = ""
    property_id: str | None = None
    api_endpoint: str | None = None
    credentials_path: str | None = None
    page_size: int = pydantic.Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    request_timeout_seconds: float = pydantic.Field(default=60.0, gt=0)
    retry_initial_seconds: float = pydantic.Field(default=1.0, gt=0)
    retry_maximum_seconds: float = pydantic.Field(default=32.0, gt=0)
    retry_deadline_seconds: float = pydantic.Field(default=300.0, gt=0)

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
            retry=RetryPolicy(
                initial=self.retry_initial_seconds,
                maximum=self.retry_maximum_seconds,
                deadline=self.retry_deadline_seconds,
            ),
        )
