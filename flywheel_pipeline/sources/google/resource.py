"""The settings every Google source's resource has, and how it hands an asset its client;
GA4 and Search Console add their own settings and build their live client."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import pydantic

from flywheel_pipeline.sources.google.client import DemoClient, ReportClient
from flywheel_pipeline.sources.google.retry import RetryPolicy


class GoogleApiResource(dg.ConfigurableResource):
    """`mode` demo serves the simulator's snapshot from `demo_snapshot_dir`; live calls the
    API at `api_endpoint` (Google's when unset).

    `credentials_path` is a service-account key file; left unset, the client reads
    `GOOGLE_APPLICATION_CREDENTIALS` itself when it is built, so the path never enters the
    run's config (wire it with `dg.EnvVar("GOOGLE_APPLICATION_CREDENTIALS")` if it must be
    explicit: Dagster shows an EnvVar's name, not its value). With an `http://` endpoint and no
    key file the client uses anonymous credentials.

    A source's subclass names itself (`source`), its demo client, and the setting live
    extraction needs (`target`, read from the environment variable `target_env`), and builds
    its live client (`_live_client`).
    """

    source: ClassVar[str]
    target_env: ClassVar[str]
    demo_client: ClassVar[type[DemoClient]]

    mode: str = "demo"
    demo_snapshot_dir: str = ""
    api_endpoint: str | None = None
    credentials_path: str | None = None
    request_timeout_seconds: float = pydantic.Field(default=60.0, gt=0)
    retry_initial_seconds: float = pydantic.Field(default=1.0, gt=0)
    retry_maximum_seconds: float = pydantic.Field(default=32.0, gt=0)
    retry_max_attempts: int = pydantic.Field(default=8, ge=1)
    retry_deadline_seconds: float = pydantic.Field(default=300.0, gt=0)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial=self.retry_initial_seconds,
            maximum=self.retry_maximum_seconds,
            max_attempts=self.retry_max_attempts,
            deadline=self.retry_deadline_seconds,
        )

    @property
    def target(self) -> str | None:
        """What live extraction reads from (GA4's property, Search Console's site)."""
        raise NotImplementedError

    @property
    def configured(self) -> bool:
        return self.mode == "demo" or self.target is not None

    def client(self) -> ReportClient[Any, Any]:
        if self.mode == "demo":
            return self.demo_client(Path(self.demo_snapshot_dir))
        if self.target is None:
            raise ValueError(f"{self.target_env}: not set; live {self.source} extraction needs it")
        return self._live_client(self.target)

    def _live_client(self, target: str) -> ReportClient[Any, Any]:
        raise NotImplementedError
