"""A Slack-compatible webhook on loopback: records every JSON body; answers `failures` times with `status` first."""

from __future__ import annotations

import json
from typing import Any

from dify_meter.sandbox.loopback import LoopbackServer, Request, Response


class WebhookReceiver(LoopbackServer):
    def __init__(self, *, failures: int = 0, status: int = 503) -> None:
        self.bodies: list[Any] = []
        self.failures = failures
        self.status = status
        super().__init__(self._answer, name="webhook")

    def _answer(self, request: Request) -> Response:
        if self.failures > 0:
            self.failures -= 1
            return Response(self.status, b"busy")
        self.bodies.append(json.loads(request.body))
        return Response(200, b"ok")

    @property
    def url(self) -> str:
        return f"{self.base_url}/services/T000/B000/secret-hook-token"

    @property
    def texts(self) -> list[str]:
        return [body["text"] for body in self.bodies]
