"""A local fake of the GA4 Data API's REST `runReport` (v1beta), with fault injection.

`FakeGa4Server` listens on 127.0.0.1 (a free port), answers
`POST /v1beta/properties/{id}:runReport` in GA4's JSON shape (dimensionHeaders,
metricHeaders, rows of string values, rowCount, metadata, kind), pages by `offset`/`limit`
(limit capped at 250 000, 10 000 when absent, as GA4 does) and records every request.

Each property holds a deterministic dataset: for every day of the requested range,
`rows_per_day` rows (one when the report's only dimension is `date`), with values derived from
the property's seed, so the same query always gives the same rows and `expected_rows` says
exactly what the server holds.

Faults (`Faults`, changeable between tests): a seeded share of transient 429/500/503 answers,
slow answers (sleep past the client's timeout), a spent quota (every request answers 429
"Exhausted property tokens per day/hour quota"), and a page that fails every time from a
given page number on, after the earlier pages succeeded.

Bounded: the server answers at most `max_requests` requests, shuts itself down after
`lifetime_seconds`, and its handler threads are daemons, so a hung test cannot keep it alive.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import ThreadingHTTPServer

from tests.fakes.json_http import JsonHandler

MAX_LIMIT = 250_000
DEFAULT_LIMIT = 10_000
KIND = "analyticsData#runReport"
INTEGER_METRICS = {
    "sessions",
    "engagedSessions",
    "newUsers",
    "totalUsers",
    "activeUsers",
    "screenPageViews",
    "eventCount",
}
CURRENCY_METRICS = {"totalRevenue", "purchaseRevenue"}
DEVICES = ("desktop", "mobile", "tablet")
CHANNELS = ("Organic Search", "Paid Search", "Direct", "Email", "Referral")
PATH_DIMENSIONS = {"landingPage", "pagePath"}
RUN_REPORT = re.compile(r"^/v1beta/properties/(?P<property>[^/:]+):runReport$")

QUOTA_MESSAGES = {
    "day": (
        "Exhausted property tokens per day quota. Consider waiting until tomorrow or "
        "reducing the complexity of your requests."
    ),
    "hour": (
        "Exhausted property tokens per hour quota. Consider waiting until the next hour or "
        "reducing the complexity of your requests."
    ),
    "concurrent": "Exhausted concurrent requests quota for this property.",
}
TRANSIENT = {
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "Internal error encountered."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
}


@dataclass
class FakeProperty:
    rows_per_day: int = 40
    seed: int = 0
    sampled: bool = False
    thresholded: bool = False
    other_row: bool = False  # the last row of every day is GA4's "(other)" row


@dataclass
class Faults:
    rate: float = 0.0  # share of requests answered with one of `statuses`
    statuses: tuple[int, ...] = (429, 500, 503)
    slow_rate: float = 0.0  # share of requests that sleep `slow_seconds` before answering
    slow_seconds: float = 1.0
    quota: str | None = None  # "day" | "hour" | "concurrent": every request answers 429
    fail_from_page: int | None = None  # pages >= this (offset // limit) always fail
    fail_status: int = 500
    seed: int = 0


@dataclass
class RecordedRequest:
    property_id: str
    body: dict
    status: int
    fault: str | None  # None: a normal answer the client received
    offset: int
    limit: int
    rows: int
    request_id: str | None
    authorized: bool  # an Authorization header was present (its value is not kept)


def _hash(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _metric_type(name: str) -> str:
    if name in INTEGER_METRICS:
        return "TYPE_INTEGER"
    return "TYPE_CURRENCY" if name in CURRENCY_METRICS else "TYPE_FLOAT"


def _dimension_value(prop: FakeProperty, name: str, day: date, i: int, first: bool) -> str:
    if name == "date":
        return day.strftime("%Y%m%d")
    if first:  # the first non-date dimension makes rows unique within a day
        return f"/page/{i:05d}" if name in PATH_DIMENSIONS else f"{name}_{i:05d}"
    h = _hash(prop.seed, name, i)
    if name == "deviceCategory":
        return DEVICES[h % len(DEVICES)]
    if name == "sessionDefaultChannelGroup":
        return CHANNELS[h % len(CHANNELS)]
    return f"{name}_{h % 7}"


def _metric_value(prop: FakeProperty, name: str, day: date, key: tuple[str, ...]) -> str:
    h = _hash(prop.seed, name, day.isoformat(), *key)
    if name in INTEGER_METRICS:
        return str(h % 5000)
    value = (h % 1_000_000) / 100
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


class FakeGa4Server:
    def __init__(self, *, max_requests: int = 5000, lifetime_seconds: float = 120.0) -> None:
        self.properties: dict[str, FakeProperty] = {}
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.max_requests = max_requests
        self.lifetime_seconds = lifetime_seconds
        self._lock = threading.Lock()
        self._random = random.Random(0)
        self._cache: dict[tuple, list[list[str]]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()

    # Configuration -----------------------------------------------------------------------
    def add_property(self, property_id: str, **settings: object) -> FakeProperty:
        prop = FakeProperty(**settings)  # type: ignore[arg-type]
        with self._lock:
            self.properties[str(property_id)] = prop
            self._cache.clear()
        return prop

    def set_faults(self, **settings: object) -> Faults:
        with self._lock:
            self.faults = Faults(**settings)  # type: ignore[arg-type]
            self._random = random.Random(self.faults.seed)
        return self.faults

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # What the server holds ---------------------------------------------------------------
    def expected_rows(
        self,
        property_id: str,
        dimensions: list[str] | tuple[str, ...],
        metrics: list[str] | tuple[str, ...],
        start: date,
        end: date,
    ) -> list[list[str]]:
        """Every row (dimension values, then metric values, as strings) of that query, in
        the server's default order."""
        key = (str(property_id), tuple(dimensions), tuple(metrics), start, end)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        prop = self.properties[str(property_id)]
        non_date = [d for d in dimensions if d != "date"]
        per_day = prop.rows_per_day if non_date else 1
        rows: list[list[str]] = []
        day = start
        while day <= end:
            for i in range(per_day):
                dims = [
                    _dimension_value(prop, name, day, i, bool(non_date) and name == non_date[0])
                    for name in dimensions
                ]
                if prop.other_row and non_date and i == per_day - 1:
                    dims[list(dimensions).index(non_date[0])] = "(other)"
                values = [_metric_value(prop, name, day, tuple(dims)) for name in metrics]
                rows.append(dims + values)
            day += timedelta(days=1)
        with self._lock:
            self._cache[key] = rows
        return rows

    def successful_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status == 200 and r.fault is None]

    # Lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeGa4Server:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-ga4",
            daemon=True,
        ).start()
        self._timer = threading.Timer(self.lifetime_seconds, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopped.is_set() or self._server is None:
            return
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeGa4Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Answering ---------------------------------------------------------------------------
    def answer(self, property_id: str, body: dict, headers: dict) -> tuple[int, dict, float]:
        """Status, JSON payload and seconds to sleep before answering."""
        limit = int(body.get("limit") or 0)
        limit = min(limit, MAX_LIMIT) if limit > 0 else DEFAULT_LIMIT
        offset = int(body.get("offset") or 0)
        record = RecordedRequest(
            property_id=property_id,
            body=body,
            status=200,
            fault=None,
            offset=offset,
            limit=limit,
            rows=0,
            request_id=headers.get("x-flywheel-request-id"),
            authorized="authorization" in headers,
        )
        with self._lock:
            self.requests.append(record)
            count = len(self.requests)
            faults = self.faults
            draw_fault = self._random.random()
            draw_status = self._random.choice(faults.statuses) if faults.statuses else 500
            draw_slow = self._random.random()
        if count > self.max_requests:
            threading.Thread(target=self.stop, daemon=True).start()
            return self._error(record, 503, "UNAVAILABLE", "fake server request budget spent")
        if property_id not in self.properties:
            return self._error(
                record,
                403,
                "PERMISSION_DENIED",
                "User does not have sufficient permissions for this property.",
            )
        if faults.quota is not None:
            return self._error(record, 429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGES[faults.quota])
        if faults.fail_from_page is not None and offset // limit >= faults.fail_from_page:
            status, message = TRANSIENT.get(faults.fail_status, ("INTERNAL", "failed"))
            return self._error(record, faults.fail_status, status, message, "failing page")
        if draw_fault < faults.rate:
            status, message = TRANSIENT[draw_status]
            return self._error(record, draw_status, status, message)
        try:
            dimensions = [d["name"] for d in body.get("dimensions", [])]
            metrics = [m["name"] for m in body["metrics"]]
            ranges = body["dateRanges"]
            start = date.fromisoformat(ranges[0]["startDate"])
            end = date.fromisoformat(ranges[0]["endDate"])
        except (KeyError, IndexError, ValueError) as exc:
            return self._error(record, 400, "INVALID_ARGUMENT", f"bad request: {exc}")
        if len(ranges) != 1 or start > end:
            return self._error(record, 400, "INVALID_ARGUMENT", "expected one valid date range")
        rows = self.expected_rows(property_id, dimensions, metrics, start, end)
        for order in reversed(body.get("orderBys", [])):
            name = order.get("dimension", {}).get("dimensionName")
            if name in dimensions:
                column = dimensions.index(name)
                rows = sorted(rows, key=lambda r, c=column: r[c], reverse=order.get("desc", False))
        page = rows[offset : offset + limit]
        prop = self.properties[property_id]
        metadata: dict[str, object] = {"currencyCode": "USD", "timeZone": "America/Los_Angeles"}
        if prop.sampled:
            metadata["samplingMetadatas"] = [
                {"samplesReadCount": "500000", "samplingSpaceSize": "2000000"}
            ]
        if prop.thresholded:
            metadata["subjectToThresholding"] = True
        if prop.other_row:
            metadata["dataLossFromOtherRow"] = True
        payload: dict[str, object] = {
            "dimensionHeaders": [{"name": name} for name in dimensions],
            "metricHeaders": [{"name": name, "type": _metric_type(name)} for name in metrics],
            "metadata": metadata,
            "kind": KIND,
        }
        n_dims = len(dimensions)
        if page:
            payload["rows"] = [
                {
                    "dimensionValues": [{"value": v} for v in row[:n_dims]],
                    "metricValues": [{"value": v} for v in row[n_dims:]],
                }
                for row in page
            ]
        if rows:  # proto3 JSON leaves a zero rowCount out
            payload["rowCount"] = len(rows)
        record.rows = len(page)
        sleep = 0.0
        if draw_slow < faults.slow_rate:
            record.fault = "slow"
            sleep = faults.slow_seconds
        return 200, payload, sleep

    def _error(
        self, record: RecordedRequest, code: int, status: str, message: str, fault: str = ""
    ) -> tuple[int, dict, float]:
        record.status = code
        record.fault = fault or status
        return code, {"error": {"code": code, "message": message, "status": status}}, 0.0


class _Handler(JsonHandler):
    fake: FakeGa4Server
    # One buffered write per answer and no Nagle delay: otherwise every request waits for a
    # delayed ACK (~40 ms) between the headers and the body.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        match = RUN_REPORT.match(path)
        if match is None:
            self._send(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, sleep = self.fake.answer(match["property"], body, headers)
        if sleep:
            time.sleep(sleep)
        self._send(status, payload)
