"""GA4 Data API extraction (`runReport`, v1beta) through Google's official client over REST.

One `LiveGa4Client` per property. For a report and a date range it pages through every row:
`limit` up to 250 000 (the API's cap) and `offset` until the reported `rowCount`, so an
extraction costs ceil(rows / limit) successful requests, and at least one. Requests are
sequential (one at a time per client; GA4 allows 10 concurrent requests per property).

Retries: 429 rate limits, 500, 503, 504 and timeouts/connection errors are retried with
truncated exponential backoff and full jitter (`sources/google/retry.py`), within the
policy's attempts and deadline per page. A spent token quota (429 "Exhausted property tokens
per day/hour …", or the per-project server-error quota) is *not* retried: waiting would take
until the next hour or the next Pacific midnight, so `Ga4QuotaExhausted` is raised at once,
naming the quota and when to try again. "Exhausted concurrent requests" clears as soon as other
clients' requests finish, so it is retried like a rate limit.

Request ids: GA4's response carries no request id (its `kind` is the constant
"analyticsData#runReport"), so each page gets a client-generated UUID4, sent to the server as
the `x-flywheel-request-id` header (proxies can log it) and stored in `_request_id`.

Credentials: `sources/google/credentials.py`. Neither the key file's path nor its content is
logged, put in an error message or returned in stats.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import requests
from google.analytics.data_v1beta import BetaAnalyticsDataClient
from google.analytics.data_v1beta.types import (
    DateRange,
    Dimension,
    Metric,
    OrderBy,
    RunReportRequest,
    RunReportResponse,
)
from google.api_core import exceptions as api_exceptions

from flywheel_pipeline.sources.ga4.extract import ReportPage
from flywheel_pipeline.sources.ga4.reports import Ga4Report, snake_case, to_filter_expression
from flywheel_pipeline.sources.google.credentials import google_credentials
from flywheel_pipeline.sources.google.retry import (
    RetriesExhausted,
    Retryable,
    RetryPolicy,
    call_with_retries,
)
from flywheel_pipeline.sources.google.stats import ExtractionStats

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 250_000
SCOPES = ("https://www.googleapis.com/auth/analytics.readonly",)
REQUEST_ID_HEADER = "x-flywheel-request-id"
PACIFIC = ZoneInfo("America/Los_Angeles")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    api_exceptions.TooManyRequests,
    api_exceptions.InternalServerError,
    api_exceptions.ServiceUnavailable,
    api_exceptions.GatewayTimeout,
    api_exceptions.DeadlineExceeded,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
)


class Ga4Error(RuntimeError):
    """GA4 extraction failed; the message says why (never with credentials)."""


class Ga4QuotaExhausted(Ga4Error):
    """A GA4 quota is spent: retrying now cannot succeed, so extraction stops at once."""

    def __init__(self, quota: str, retry_after: str, detail: str) -> None:
        self.quota = quota
        self.retry_after = retry_after
        super().__init__(f"GA4 quota exhausted: {quota}. Retry {retry_after}. (API said: {detail})")


def _next_pacific_midnight(now: datetime) -> datetime:
    local = now.astimezone(PACIFIC)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), PACIFIC)


def spent_quota(exc: BaseException, now: datetime | None = None) -> Ga4QuotaExhausted | None:
    """The `Ga4QuotaExhausted` for a spent-quota answer; None for anything retryable."""
    if not isinstance(exc, api_exceptions.TooManyRequests | api_exceptions.ResourceExhausted):
        return None
    detail = str(getattr(exc, "message", exc))
    # The client prefixes the message with "POST <url>: "; keep only what the API said.
    detail = detail.split(": ", 1)[1] if detail.startswith("POST ") else detail
    text = detail.lower()
    now = now or datetime.now(UTC)
    # GA4 names the quota: "Exhausted property tokens per day quota. Consider waiting …".
    named = re.search(r"exhausted (.+?) quota", text)
    if "per day" in text:
        midnight = _next_pacific_midnight(now)
        hours = max((midnight - now).total_seconds() / 3600, 0)
        return Ga4QuotaExhausted(
            named.group(1) if named else "property tokens per day",
            f"after midnight Pacific time ({midnight.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
            f"in about {hours:.1f} h)",
            detail,
        )
    if "per hour" in text:
        latest = (now + timedelta(hours=1)).astimezone(UTC)
        return Ga4QuotaExhausted(
            named.group(1) if named else "hourly quota",
            f"in the next hour (hourly quotas refill within an hour: by {latest:%H:%M} UTC "
            "at the latest)",
            detail,
        )
    return None


def _retryable(exc: Exception) -> Retryable | None:
    """Rate limits, server errors and transport failures, but not a spent quota."""
    if isinstance(exc, TRANSIENT_ERRORS) and spent_quota(exc) is None:
        return Retryable(type(exc).__name__)
    return None


class LiveGa4Client:
    """Extracts GA4 reports for one property; see the module docstring for the behaviour."""

    def __init__(
        self,
        property_id: str,
        *,
        api_endpoint: str | None = None,
        credentials_path: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        request_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        client: BetaAnalyticsDataClient | None = None,
    ) -> None:
        if not str(property_id).isdigit():
            raise Ga4Error(f"GA4_PROPERTY_ID: expected digits, got {property_id!r}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.property_id = str(property_id)
        self.page_size = min(page_size, MAX_PAGE_SIZE)
        self.request_timeout = request_timeout
        self.retry_policy = retry or RetryPolicy()
        self._rng = random.Random()
        self._lock = threading.Lock()
        if client is None:
            api_endpoint = api_endpoint.rstrip("/") if api_endpoint else None
            if credentials_path is None:
                credentials_path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or None
            options = {"api_endpoint": api_endpoint} if api_endpoint else None
            client = BetaAnalyticsDataClient(
                transport="rest",
                credentials=google_credentials(SCOPES, api_endpoint, credentials_path, Ga4Error),
                client_options=options,
            )
        self._client = client

    def served_days(self, report: Ga4Report) -> None:
        """None: GA4 keeps the property's history itself (its retention setting); rows of days
        it no longer serves stay in the raw table."""
        return None

    def _request(self, report: Ga4Report, start: date, end: date, offset: int):
        filters = {
            name: to_filter_expression(value)
            for name, value in (
                ("dimension_filter", report.dimension_filter),
                ("metric_filter", report.metric_filter),
            )
            if value is not None
        }
        return RunReportRequest(
            property=f"properties/{self.property_id}",
            dimensions=[Dimension(name=name) for name in report.dimensions],
            metrics=[Metric(name=name) for name in report.metrics],
            date_ranges=[DateRange(start_date=start.isoformat(), end_date=end.isoformat())],
            # A total order over the dimensions keeps offset paging stable between requests.
            order_bys=[
                OrderBy(dimension=OrderBy.DimensionOrderBy(dimension_name=name))
                for name in report.dimensions
            ],
            limit=self.page_size,
            offset=offset,
            **filters,
        )

    def _fetch(
        self, request: RunReportRequest, request_id: str, stats: ExtractionStats
    ) -> RunReportResponse:
        """One page, retrying transient errors; every attempt counts in `stats`."""

        def attempt() -> RunReportResponse:
            return self._client.run_report(
                request=request,
                retry=None,
                timeout=self.request_timeout,
                metadata=[(REQUEST_ID_HEADER, request_id)],
            )

        try:
            with self._lock:
                return call_with_retries(
                    attempt,
                    _retryable,
                    policy=self.retry_policy,
                    stats=stats,
                    rng=self._rng,
                    log=log,
                    describe=f"GA4 runReport offset {request.offset}",
                )
        except RetriesExhausted as exc:
            cause = exc.__cause__
            if isinstance(cause, api_exceptions.TooManyRequests) and "concurrent" in str(cause):
                raise Ga4QuotaExhausted(
                    "concurrent requests",
                    "in a few minutes, when other clients' requests to this property have ended",
                    str(cause),
                ) from None
            raise Ga4Error(
                f"GA4 runReport for property {self.property_id} at offset {request.offset} "
                f"still failing after {exc.attempts} attempts over {exc.seconds:.1f} s: "
                f"{type(cause).__name__}: {cause}"
            ) from cause
        except Exception as exc:
            quota = spent_quota(exc)
            if quota is not None:
                raise quota from None
            raise

    def pages(
        self,
        report: Ga4Report,
        start: date,
        end: date,
        stats: ExtractionStats | None = None,
    ) -> Iterator[ReportPage]:
        if start > end:
            raise ValueError(f"GA4 date range {start}..{end} is empty")
        stats = stats if stats is not None else ExtractionStats()
        expected = [*report.dimensions, *report.metrics]
        offset = page_number = 0
        while True:
            request = self._request(report, start, end, offset)
            request_id = str(uuid.uuid4())
            response = self._fetch(request, request_id, stats)
            raw = RunReportResponse.pb(response)
            names = [h.name for h in raw.dimension_headers] + [h.name for h in raw.metric_headers]
            if raw.rows and names != expected:
                raise Ga4Error(f"GA4 answered columns {names} for a request of {expected}")
            rows = pd.DataFrame(
                [
                    [v.value for v in row.dimension_values] + [v.value for v in row.metric_values]
                    for row in raw.rows
                ],
                columns=[snake_case(name) for name in expected],
                dtype=object,
            )
            metadata = raw.metadata
            page = ReportPage(
                rows,
                request_id=request_id,
                page=page_number,
                is_sampled=len(metadata.sampling_metadatas) > 0,
                subject_to_thresholding=metadata.subject_to_thresholding,
                has_other_row=metadata.data_loss_from_other_row,
            )
            stats.add_page(len(rows), page.flags)
            yield page
            offset += len(rows)
            page_number += 1
            if offset >= raw.row_count:
                if offset > raw.row_count:
                    raise Ga4Error(
                        f"GA4 returned {offset} rows but reported rowCount {raw.row_count} "
                        "(the data changed while paging); rerun the extraction"
                    )
                return
            if not len(rows):
                raise Ga4Error(
                    f"GA4 returned an empty page at offset {offset} of {raw.row_count} rows "
                    "(the data changed while paging); rerun the extraction"
                )
