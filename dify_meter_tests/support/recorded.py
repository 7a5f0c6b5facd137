"""The real Dify 1.12.1 exchanges vendored in dify_meter_tests/fixtures, and a loopback server that replays them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from dify_meter.sandbox.loopback import LoopbackServer, Request, Response

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "dify-1.12.1"
API_KEY = "test-admin-key-never-shown"
WORKSPACE_ID = "bc7707d9-0233-49fd-8a56-07e7cfcf41ae"
CONSOLE = "/console/api"
# Dify's own default, which the client sends explicitly and the recordings mostly leave out.
DEFAULT_QUERY = {"sort_by": "-updated_at"}


def fixture_names() -> list[str]:
    return sorted(path.name for path in FIXTURE_DIR.glob("*.json"))


@cache
def _load(name: str) -> str:
    return (FIXTURE_DIR / name).read_text(encoding="utf-8")


def recorded(name: str) -> dict[str, Any]:
    """A fresh copy of one recording: {"request": {...}, "response": {status, headers, body}}."""
    return json.loads(_load(name))


def body(name: str) -> Any:
    return recorded(name)["response"]["body"]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


def _key(
    method: str, path: str, query: dict[str, str], ignore: frozenset[str]
) -> tuple[str, str, frozenset[tuple[str, str]]]:
    normalized = {**DEFAULT_QUERY, **query} if path.endswith("/chat-conversations") else dict(query)
    return method, path, frozenset((key, value) for key, value in normalized.items() if key not in ignore)


class ReplayServer(LoopbackServer):
    """Answers exactly the recorded requests of the given fixtures (admin-key auth checked), else 599.

    `ignore` names query parameters left out of the comparison (the recording did not send them)."""

    def __init__(
        self,
        names: list[str],
        *,
        extra: dict[tuple[str, str], Reply] | None = None,
        ignore: frozenset[str] = frozenset(),
    ) -> None:
        self.ignore = ignore
        self.replies: dict[tuple[str, str, frozenset[tuple[str, str]]], Reply] = {}
        for name in names:
            exchange = recorded(name)
            request, response = exchange["request"], exchange["response"]
            key = _key(request["method"], request["path"], request["query"], ignore)
            self.replies[key] = Reply(response["status"], json.dumps(response["body"]).encode())
        self.extra = extra or {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        super().__init__(self._answer)

    def reply_to(self, request: Request) -> Reply:
        method, path, query, headers = request.method, request.path, dict(request.query), request.headers
        self.requests.append((method, path, query))
        if headers.get("authorization") != f"Bearer {API_KEY}" or headers.get("x-workspace-id") != WORKSPACE_ID:
            return Reply(401, json.dumps(body("08-admin-key-without-workspace-401.json")).encode())
        if (method, path) in self.extra:
            return self.extra[(method, path)]
        reply = self.replies.get(_key(method, path, query, self.ignore))
        return reply or Reply(599, f"no recording for {method} {path} {query}".encode(), "text/plain")

    def _answer(self, request: Request) -> Response:
        reply = self.reply_to(request)
        return Response(reply.status, reply.body, [("Content-Type", reply.content_type), ("X-Version", "1.12.1")])
