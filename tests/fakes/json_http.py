"""What the fake Google servers' request handlers share: quiet HTTP/1.1 answering JSON."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    separators: tuple[str, str] | None = None  # json.dumps's; None: its default

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload, separators=self.separators).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # the client gave up (timed out) before the answer
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass
