"""Live Search Console extraction: `searchanalytics.query` through google-api-python-client.

Pages with `startRow` (`rowLimit` ≤ 25 000) until a short or empty page, which is the fewest
requests the API allows. Retries 429, 5xx, timeouts and dropped connections
(`sources/google/retry.py`, honouring Retry-After); a spent quota fails at once with a message
that names the quota and says when it resets. Credentials never appear in logs, errors or
metadata.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import google_auth_httplib2
import httplib2
import pandas as pd
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from flywheel_pipeline.sources.google.credentials import google_credentials
from flywheel_pipeline.sources.google.retry import (
    RetriesExhausted,
    Retryable,
    RetryPolicy,
    call_with_retries,
)
from flywheel_pipeline.sources.google.stats import ExtractionStats
from flywheel_pipeline.sources.search_console.extract import QueryPage
from flywheel_pipeline.sources.search_console.reports import METRICS, SearchConsoleReport

SCOPES = ("https://www.googleapis.com/auth/webmasters.readonly",)
MAX_ROW_LIMIT = 25_000
PACIFIC = ZoneInfo("America/Los_Angeles")  # Search Console's dates and quota days
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# 403/429 reasons meaning a spent quota (fail now) versus a short-term rate limit (retry).
QUOTA_REASONS = frozenset({"quotaexceeded", "dailylimitexceeded", "dailylimitexceededunreg"})
RATE_LIMIT_REASONS = frozenset({"ratelimitexceeded", "userratelimitexceeded"})
LIMITS_URL = "https://developers.google.com/webmaster-tools/limits"

log = logging.getLogger(__name__)


class SearchConsoleError(RuntimeError):
    """Search Console extraction failed (after retries, or on a non-retryable error)."""


class SearchConsoleQuotaError(SearchConsoleError):
    """A Search Console quota is spent: retrying now would only waste the next quota."""


def normalise_endpoint(endpoint: str | None) -> str | None:
    """`host:port` means https (SPEC §3); the client wants a trailing slash."""
    if endpoint is None:
        return None
    if "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    return endpoint if endpoint.endswith("/") else f"{endpoint}/"


def quota_message(site_url: str, status: int, reason: str, message: str, now: datetime) -> str:
    """Name the spent quota and say when it comes back (quota days end at midnight Pacific)."""
    lowered = message.lower()
    if "load quota" in lowered:
        quota = "Search Analytics load quota"
    elif reason == "dailylimitexceeded" or "daily" in lowered:
        quota = "daily request quota"
    else:
        quota = "request quota"
    pacific_now = now.astimezone(PACIFIC)
    reset = datetime.combine(pacific_now.date() + timedelta(days=1), datetime.min.time(), PACIFIC)
    wait = reset - pacific_now
    hours, minutes = divmod(int(wait.total_seconds()) // 60, 60)
    reset_utc = reset.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Search Console {quota} exceeded for {site_url} (HTTP {status} {reason or '-'}: "
        f"{message or 'no message'}). Not retrying. The daily quota resets at midnight Pacific "
        f"time, in {hours} h {minutes:02d} min ({reset_utc}); the short-term load quota "
        "recovers after about 15 minutes. Retry then, or extract fewer days per run. "
        f"Limits: {LIMITS_URL}"
    )


def _error_details(error: HttpError) -> tuple[str, str]:
    """(reason, message) from a Google JSON error body, lower-cased reason."""
    try:
        body = json.loads(error.content.decode("utf-8", "replace"))
        payload = body.get("error", {}) if isinstance(body, dict) else {}
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(payload, dict):
        return "", str(payload)
    reasons = [str(e.get("reason", "")) for e in payload.get("errors", []) if isinstance(e, dict)]
    reasons += [str(d.get("reason", "")) for d in payload.get("details", []) if isinstance(d, dict)]
    reasons = [r for r in reasons if r]
    quota = [r for r in reasons if r.lower() in QUOTA_REASONS]
    reason = (quota or reasons or [""])[0]
    return reason.lower(), str(payload.get("message", ""))


def _retry_after(error: HttpError) -> float | None:
    value = error.resp.get("retry-after") if error.resp is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def rows_frame(rows: list[dict], dimensions: Sequence[str]) -> pd.DataFrame:
    """API rows (`keys` in the requested dimensions' order, plus metrics) as a frame."""
    frame = pd.DataFrame([row["keys"] for row in rows], columns=list(dimensions))
    for metric in METRICS:
        frame[metric] = [row.get(metric, 0.0) for row in rows]
    return frame


class LiveSearchConsoleClient:
    """Pages of `searchanalytics.query` for one site and report definition."""

    def __init__(
        self,
        site_url: str,
        *,
        api_endpoint: str | None = None,
        credentials_file: str | None = None,
        row_limit: int = MAX_ROW_LIMIT,
        data_state: str = "all",
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        if not 1 <= row_limit <= MAX_ROW_LIMIT:
            raise ValueError(f"row_limit must be 1..{MAX_ROW_LIMIT}, got {row_limit}")
        if data_state not in ("all", "final"):
            raise ValueError(f"data_state must be 'all' or 'final', got {data_state!r}")
        self.site_url = site_url
        self.api_endpoint = normalise_endpoint(api_endpoint)
        # Only the path is kept, and only to hand to Google's auth library.
        self._credentials_file = (
            credentials_file or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or None
        )
        self.row_limit = row_limit
        self.data_state = data_state
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._rng = random.Random(seed)
        self._sleep = sleep
        self._log = logger or log
        self._service = None
        self._http: httplib2.Http | None = None

    def served_days(self, report: SearchConsoleReport) -> None:
        """None: Search Console keeps 16 months and forgets older days; their rows stay in the
        raw table, which keeps the history the API no longer has."""
        return None

    def __repr__(self) -> str:  # no credentials, not even their path
        return f"LiveSearchConsoleClient({self.site_url!r}, api_endpoint={self.api_endpoint!r})"

    def _connect(self) -> None:
        if self._service is not None:
            return
        credentials = google_credentials(
            SCOPES, self.api_endpoint, self._credentials_file, SearchConsoleError
        )
        self._http = httplib2.Http(timeout=self.timeout)
        authorized = google_auth_httplib2.AuthorizedHttp(credentials, http=self._http)
        options = {"api_endpoint": self.api_endpoint} if self.api_endpoint else None
        self._service = build(
            "searchconsole",
            "v1",
            http=authorized,
            static_discovery=True,
            cache_discovery=False,
            client_options=options,
        )

    def _reset_connections(self) -> None:
        if self._http is None:
            return
        for connection in list(self._http.connections.values()):
            with contextlib.suppress(OSError):
                connection.close()
        self._http.connections.clear()

    def pages(
        self,
        report: SearchConsoleReport,
        start: date,
        end: date,
        stats: ExtractionStats | None = None,
    ) -> Iterator[QueryPage]:
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        self._connect()
        stats = stats if stats is not None else ExtractionStats()
        extraction = uuid.uuid4().hex[:16]
        page = 0
        while True:
            body = {
                **report.request_body(),
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
                "rowLimit": self.row_limit,
                "startRow": page * self.row_limit,
                "dataState": self.data_state,
            }
            request_id = f"gsc-{extraction}-{page:05d}"
            response = self._execute(body, request_id, stats)
            rows = response.get("rows") or []
            first_incomplete = (response.get("metadata") or {}).get("firstIncompleteDate")
            stats.add_page(len(rows))
            yield QueryPage(
                rows_frame(rows, report.dimensions),
                request_id=request_id,
                page=page,
                data_state=self.data_state,
                first_incomplete_date=(
                    date.fromisoformat(first_incomplete) if first_incomplete else None
                ),
            )
            if len(rows) < self.row_limit:  # a short or empty page is the last one
                return
            page += 1

    def _execute(self, body: dict, request_id: str, stats: ExtractionStats) -> dict:
        assert self._service is not None
        where = f"request {request_id}, startRow {body['startRow']}"

        def attempt() -> dict:
            request = self._service.searchanalytics().query(siteUrl=self.site_url, body=body)
            request.headers["x-flywheel-request-id"] = request_id
            return request.execute(num_retries=0)

        try:
            return call_with_retries(
                attempt,
                lambda error: self._retryable(error, where),
                policy=self.retry,
                stats=stats,
                rng=self._rng,
                log=self._log,
                describe=f"Search Console {where}",
                sleep=self._sleep,
            )
        except RetriesExhausted as exc:
            raise SearchConsoleError(
                f"Search Console searchanalytics.query for {self.site_url} gave up after "
                f"{exc.attempts} attempts (last: {exc.problem}; {where})"
            ) from None

    def _retryable(self, error: Exception, where: str) -> Retryable | None:
        """Rate limits, server errors, timeouts and dropped connections are retried; a spent
        quota and any other HTTP error raise at once."""
        if isinstance(error, HttpError):
            status = error.resp.status
            reason, message = _error_details(error)
            spent = reason in QUOTA_REASONS or "quota exceeded" in message.lower()
            if status in (403, 429) and spent:
                raise SearchConsoleQuotaError(
                    quota_message(self.site_url, status, reason, message, datetime.now(PACIFIC))
                ) from None
            if status in RETRYABLE_STATUSES or (status == 403 and reason in RATE_LIMIT_REASONS):
                return Retryable(f"HTTP {status}", _retry_after(error))
            raise SearchConsoleError(
                f"Search Console searchanalytics.query for {self.site_url} failed: "
                f"HTTP {status} {reason or '-'}: {message or 'no message'} ({where})"
            ) from None
        if isinstance(error, TimeoutError | ConnectionError | http.client.HTTPException):
            # After a timeout the socket may still deliver the late response: never reuse it.
            self._reset_connections()
            return Retryable("timeout" if isinstance(error, TimeoutError) else type(error).__name__)
        return None
