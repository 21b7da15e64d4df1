"""A local fake of Search Console's `searchanalytics.query`, for tests and benchmarks.

Serves `POST /webmasters/v3/sites/{siteUrl}/searchAnalytics/query` (the path in the discovery
document bundled with google-api-python-client) on 127.0.0.1, from a deterministic dataset
whose rows are generated on demand, so a million rows cost no memory. Pages by
`startRow`/`rowLimit` (≤ 25 000), returns `rows` (`keys`, clicks, impressions, ctr, position),
`responseAggregationType` and, for `dataState: all`, `metadata.firstIncompleteDate`.

Faults, all optional: 429/500/503 at a seeded rate, slow responses, a spent daily quota (after
N good pages), pages that always fail (a failure after earlier pages succeeded). Every request
is recorded. The server is bounded (`max_requests`) and stops itself after `lifetime` seconds.

    with FakeSearchConsole(FakeDataset(total_rows=60_000)) as fake:
        fake.endpoint  # "http://127.0.0.1:PORT/"

Run standalone (benchmarks): `python -m tests.fakes.gsc_server --rows 1000000` prints the
endpoint on the first line of stdout and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import ThreadingHTTPServer
from urllib.parse import unquote

from tests.fakes.json_http import JsonHandler

QUERY_PATH = re.compile(r"^/webmasters/v3/sites/(?P<site>[^/?]+)/searchAnalytics/query(\?.*)?$")
MAX_ROW_LIMIT = 25_000
COUNTRIES = ("usa", "gbr", "deu", "fra", "nld")
DEVICES = ("DESKTOP", "MOBILE", "TABLET")
DIMENSIONS = ["date", "query", "page", "country", "device"]


@dataclass(frozen=True)
class FakeDataset:
    """`total_rows` rows over `days` days from `start`; row i is day i % days, item i // days.

    Keys (date, query, page, country, device) are unique; the days on and after
    `first_incomplete_date` are "still being collected" (default: the last two days).
    """

    total_rows: int = 1_000
    start: date = date(2026, 10, 1)
    days: int = 30
    first_incomplete_date: date | None = None

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    @property
    def incomplete_from(self) -> date:
        return self.first_incomplete_date or self.end - timedelta(days=1)

    def row(self, i: int) -> dict:
        day, item = i % self.days, i // self.days
        impressions = 1 + (i * 7919) % 5_000
        clicks = (i * 104_729) % (impressions + 1) // 10
        return {
            "keys": [
                (self.start + timedelta(days=day)).isoformat(),
                f"query {item}",
                f"https://shop.example/p/{item % 997}",
                COUNTRIES[item % len(COUNTRIES)],
                DEVICES[item % len(DEVICES)],
            ],
            "clicks": float(clicks),
            "impressions": float(impressions),
            "ctr": clicks / impressions,
            "position": 1.0 + (i % 500) / 10,
        }

    def window(self, first: date, last: date) -> tuple[int, int, int]:
        """(first day index, width, row count) of the rows dated first..last."""
        a = max(0, (first - self.start).days)
        b = min(self.days - 1, (last - self.start).days)
        if b < a:
            return a, 0, 0
        width = b - a + 1
        full, remainder = divmod(self.total_rows, self.days)
        tail = max(0, min(b, remainder - 1) - a + 1)
        return a, width, full * width + tail

    def rows(self, first: date, last: date, start_row: int, limit: int) -> list[dict]:
        a, width, count = self.window(first, last)
        if width == 0:
            return []
        full = self.total_rows // self.days
        out = []
        for k in range(start_row, min(count, start_row + limit)):
            if k < full * width:
                item, day = divmod(k, width)
                out.append(self.row(item * self.days + a + day))
            else:
                out.append(self.row(full * self.days + a + (k - full * width)))
        return out


@dataclass
class Faults:
    rate: float = 0.0  # share of requests answered with one of `statuses`
    statuses: tuple[int, ...] = (429, 500, 503)
    slow_rate: float = 0.0  # share of requests delayed by `slow_seconds`
    slow_seconds: float = 0.0
    quota_after_pages: int | None = None  # spent daily quota after this many good pages
    failing_start_rows: dict[int, int] = field(default_factory=dict)  # startRow -> status
    seed: int = 7


class FakeSearchConsole:
    """The fake server; a context manager (start/stop). `requests` records every request."""

    def __init__(
        self,
        dataset: FakeDataset | None = None,
        faults: Faults | None = None,
        *,
        max_requests: int = 20_000,
        lifetime: float = 600.0,
    ) -> None:
        self.dataset = dataset or FakeDataset()
        self.faults = faults or Faults()
        self.max_requests = max_requests
        self.lifetime = lifetime
        self.requests: deque[dict] = deque(maxlen=max_requests)
        self.good_pages = 0
        self._count = 0
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    # Lifecycle ----------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> FakeSearchConsole:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeSearchConsole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # What happened ------------------------------------------------------------------------
    def successful(self) -> list[dict]:
        """Requests answered 200 without delay (a delayed answer may reach a client that has
        already timed out)."""
        return [r for r in self.requests if r["status"] == 200 and not r["delayed"]]

    # Answering ----------------------------------------------------------------------------
    def answer(self, site: str, body: dict, headers: dict) -> tuple[int, dict, float]:
        """(status, JSON payload, delay in seconds) for one request."""
        start_row = int(body.get("startRow", 0))
        limit = int(body.get("rowLimit", 1_000))
        with self._lock:
            self._count += 1
            record = {
                "n": self._count,
                "site": site,
                "startRow": start_row,
                "rowLimit": limit,
                "body": body,
                "request_id": headers.get("x-flywheel-request-id"),
                "authorization": "present" if headers.get("authorization") else "absent",
            }
            self.requests.append(record)
            status, payload, delay = self._decide(body, start_row, limit)
            record["status"] = status
            record["delayed"] = delay
            if status == 200:
                self.good_pages += 1
        if status == 200:
            payload = self._page(body, start_row, limit)
        return status, payload, delay

    def _decide(self, body: dict, start_row: int, limit: int) -> tuple[int, dict, float]:
        faults = self.faults
        if self._count > self.max_requests:
            return 503, _error(503, "fake server request budget spent", "backendError"), 0.0
        if not 1 <= limit <= MAX_ROW_LIMIT or start_row < 0:
            return 400, _error(400, "rowLimit must be 1..25000", "invalid"), 0.0
        if list(body.get("dimensions", [])) != DIMENSIONS:
            return 400, _error(400, f"fake serves dimensions {DIMENSIONS}", "invalid"), 0.0
        if faults.quota_after_pages is not None and self.good_pages >= faults.quota_after_pages:
            message = "Search Analytics load quota exceeded."
            return 403, _error(403, message, "quotaExceeded"), 0.0
        if start_row in faults.failing_start_rows:
            status = faults.failing_start_rows[start_row]
            return status, _error(status, "injected persistent failure", "backendError"), 0.0
        delay = faults.slow_seconds if self._rng.random() < faults.slow_rate else 0.0
        if self._rng.random() < faults.rate:
            status = self._rng.choice(faults.statuses)
            reason = "rateLimitExceeded" if status == 429 else "backendError"
            return status, _error(status, "injected fault", reason), delay
        return 200, {}, delay

    def _page(self, body: dict, start_row: int, limit: int) -> dict:
        data = self.dataset
        first = date.fromisoformat(body["startDate"])
        last = date.fromisoformat(body["endDate"])
        state = str(body.get("dataState", "final")).lower()
        if state == "final":  # incomplete days are left out of final data
            last = min(last, data.incomplete_from - timedelta(days=1))
        payload: dict = {"responseAggregationType": "byPage"}
        rows = data.rows(first, last, start_row, limit)
        if rows:
            payload["rows"] = rows
        if state == "all" and first <= data.incomplete_from <= last:
            payload["metadata"] = {"firstIncompleteDate": data.incomplete_from.isoformat()}
        return payload


def _error(status: int, message: str, reason: str) -> dict:
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "usageLimits", "reason": reason}],
        }
    }


class _Handler(JsonHandler):
    fake: FakeSearchConsole
    separators = (",", ":")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        raw = self.rfile.read(min(length, 1_000_000))
        match = QUERY_PATH.match(self.path)
        if match is None:
            self._send(404, _error(404, f"no such path {self.path}", "notFound"))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, _error(400, "body is not JSON", "parseError"))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, delay = self.fake.answer(unquote(match["site"]), body, headers)
        if delay:
            time.sleep(delay)
        self._send(status, payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--lifetime", type=float, default=600.0)
    args = parser.parse_args()
    fake = FakeSearchConsole(
        FakeDataset(total_rows=args.rows, days=args.days), lifetime=args.lifetime
    )
    with fake:
        print(fake.endpoint, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin (or the lifetime ends)


if __name__ == "__main__":
    main()
