"""The request handler base shared by the small health and metrics HTTP servers."""

from __future__ import annotations

from http import HTTPStatus
from http.server import BaseHTTPRequestHandler


class ProbeHandler(BaseHTTPRequestHandler):
    """Answers with a body of a given type and logs nothing: probes and scrapes come every few
    seconds and their access lines would drown the process's own log lines."""

    def _send(self, code: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return
