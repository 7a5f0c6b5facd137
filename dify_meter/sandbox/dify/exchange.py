"""What passes between the simulator's endpoints and its tests: the reply to a request (the request is a
`dify_meter.sandbox.loopback.Request`), the `Call` an endpoint handles, and the `RequestRecord` of every request."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dify_meter.sandbox.dify.accounts import AccountService, AuthVia
from dify_meter.sandbox.dify.tables import Account
from dify_meter.sandbox.dify.versions import VersionBehaviour
from dify_meter.sandbox.dify.workspace import Workspace
from dify_meter.sandbox.loopback import Response


@dataclass(frozen=True)
class Reply:
    status: int | None  # None: close the connection without answering
    body: Any  # a JSON value, or bytes sent as they are
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()  # more headers: Set-Cookie, Retry-After
    auth: AuthVia | None = None  # how the request was authenticated, for the record
    truncated: bool = False  # send half the body under the full Content-Length, then close

    @classmethod
    def of(cls, answer: Reply | tuple[int, Any]) -> Reply:
        """A reply from what `DifySimulator.respond` gave (subclasses may still answer `(status, body)`)."""
        return answer if isinstance(answer, Reply) else cls(answer[0], answer[1])

    def payload(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode("utf-8")

    def response(self, dify_version: str) -> Response:
        """This reply on the wire, as Dify sends it: every answer names the version."""
        if self.status is None:
            return Response(None)
        body = self.payload()
        headers = (
            ("Server", "dify-simulator"),
            ("Content-Type", self.content_type),
            ("X-Version", dify_version),
            *self.headers,
        )
        return Response(self.status, body, headers, truncate_to=len(body) // 2 if self.truncated else None)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the simulator saw and answered it.

    Iterating or indexing gives `(method, path, query)`, the shape of the records before these fields existed.
    """

    method: str
    path: str
    query: dict[str, str]
    auth: AuthVia | None  # None: unauthenticated endpoint, or authentication failed
    status: int | None  # None: the connection was dropped without an answer
    fault: str | None  # the kind of the injected fault that shaped the answer

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.path, self.query))

    def __getitem__(self, index: int) -> Any:
        return (self.method, self.path, self.query)[index]

    def __len__(self) -> int:
        return 3


@dataclass
class Call:
    """One request as an endpoint handler sees it (Flask's `request` plus who it acts as)."""

    ws: Workspace
    account: Account
    path: str
    args: dict[str, str]
    params: dict[str, str]  # path parameters
    now: datetime
    base_url: str
    hint_rules: tuple[str, ...]
    headers: Mapping[str, str]
    body: bytes
    accounts: AccountService
    version: VersionBehaviour
    set_cookies: list[str] = field(default_factory=list)  # Set-Cookie values of the answer
