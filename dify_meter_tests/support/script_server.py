"""A loopback HTTP server whose every answer is decided by a test function, down to the bytes on the wire.

    def answer(request: Seen) -> Answer: ...
    with ScriptServer(answer) as server: ...

`Answer.truncate_to` sends only that many bytes of the body under the full Content-Length, then
closes; `Answer.drop` closes the connection without answering. `server.seen` records every request
(method, path, query, lower-cased headers, body) and `server.peak_in_flight` the most requests it was
answering at once; an answer function may hold its request with `server.wait_until(...)`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dify_meter.sandbox.loopback import LoopbackServer, Request, Response


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # bytes as they are, anything else as JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    truncate_to: int | None = None
    drop: bool = False

    def payload(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


def json_answer(body: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, body, [(name.replace("_", "-"), value) for name, value in headers.items()])


class ScriptServer(LoopbackServer):
    def __init__(self, answer: Callable[[Seen], Answer], *, version: str | None = "1.12.1") -> None:
        self.answer = answer
        self.version = version
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.answered = 0
        self._lock = threading.Condition()
        super().__init__(self._answer)

    def wait_until(self, condition: Callable[[ScriptServer], bool]) -> None:
        """Block the calling request until `condition(server)` holds (checked whenever a request starts or ends)."""
        with self._lock:
            if not self._lock.wait_for(lambda: condition(self), timeout=10):
                raise AssertionError("a scripted request waited 10 s for its condition")

    def paths(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(seen.method, seen.path) for seen in self.seen]

    def _answer(self, request: Request) -> Response:
        seen = Seen(request.method, request.path, dict(request.query), dict(request.headers), request.body)
        with self._lock:
            self.seen.append(seen)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self._lock.notify_all()
        try:
            answer = self.answer(seen)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.answered += 1
                self._lock.notify_all()
        if answer.drop:
            return Response(None)
        headers = [("Content-Type", "application/json"), *answer.headers]
        if self.version:
            headers.append(("X-Version", self.version))
        return Response(answer.status, answer.payload(), headers, truncate_to=answer.truncate_to)
