"""A Slack-compatible webhook on loopback: records every JSON body; answers `failures` times with 503 first."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from dify_meter.sandbox.loopback import LoopbackServer


class WebhookReceiver(LoopbackServer):
    def __init__(self, *, failures: int = 0, status: int = 503) -> None:
        self.bodies: list[Any] = []
        self.failures = failures
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = 200
                if receiver.failures > 0:
                    receiver.failures -= 1
                    answer = receiver.status
                else:
                    receiver.bodies.append(body)
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"{self.base_url}/services/T000/B000/secret-hook-token"

    @property
    def texts(self) -> list[str]:
        return [body["text"] for body in self.bodies]
