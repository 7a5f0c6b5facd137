"""A reference API_Meter that follows docs/api-meter.md to the letter, with faults on demand.

Only `POST /v1/usage` exists (other paths 404, other methods 405). A request is checked in the
order a real deployment would: body size (413), injected faults, token (401), tenant (403), field
rules (400), then applied all-or-nothing and answered 200. It serves on `dify_meter.sandbox.loopback`.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from dify_meter.core.api_meter_contract import USAGE_PATH
from dify_meter.core.validation import is_loopback_host, is_uuid_text
from dify_meter.sandbox.api_meter.store import ApiMeterStore, StoredKey, StoredRecord, Totals
from dify_meter.sandbox.api_meter.validation import InvalidRequest, validate_usage_request
from dify_meter.sandbox.loopback import LoopbackServer, Request, Response

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "sandbox-api-meter-token"
DEFAULT_TENANT_ID = "12345678-1234-1234-1234-123456789abc"
IDLE_TIMEOUT_SECONDS = 60  # an idle keep-alive connection is closed after a minute, as real servers do


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    at: datetime
    method: str
    path: str
    body_bytes: int
    status: int | None  # None when the connection was closed without an answer
    records: int  # records in the body, when the request got as far as being parsed
    fault: str | None  # the injected fault that shaped the answer, if any


@dataclass(frozen=True, slots=True)
class _Fault:
    kind: str  # "slow", "rate_limit", "fail" or "drop_after_apply"
    status: int = 0
    retry_after: str = ""
    seconds: float = 0.0


class _Faults:
    """Thread-safe "for the next N requests" counters, one per kind of fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, tuple[int, _Fault]] = {}

    def arm(self, count: int, fault: _Fault) -> None:
        if count < 0:
            raise ValueError(f"a fault count must be 0 or more, got {count}")
        with self._lock:
            self._armed[fault.kind] = (count, fault)

    def take(self, kind: str) -> _Fault | None:
        with self._lock:
            count, fault = self._armed.get(kind, (0, None))
            if count <= 0 or fault is None:
                return None
            self._armed[kind] = (count - 1, fault)
            return fault


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int | None  # None: close the connection without an answer
    payload: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False
    records: int = 0
    fault: str | None = None

    def response(self) -> Response:
        body = json.dumps(self.payload).encode("utf-8") if self.payload is not None else b""
        headers = [("Content-Type", "application/json"), *self.headers.items()]
        return Response(self.status, body, headers, close=self.close)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class ApiMeterServer:
    """Context manager: `with ApiMeterServer() as meter: meter.base_url ...`."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        tenant_id: str = DEFAULT_TENANT_ID,
        store_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int | None = None,
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"the sandbox API_Meter serves on loopback addresses only, got {host!r}")
        if not token:
            raise ValueError("the sandbox API_Meter needs a non-empty token")
        if not is_uuid_text(tenant_id):
            raise ValueError(f"tenant_id must be a UUID such as {DEFAULT_TENANT_ID}, got {tenant_id!r}")
        self.host = host
        self.port = port
        self.tenant_id = tenant_id.lower()
        self.max_body_bytes = max_body_bytes  # above this, 413; None for no limit
        self._token = token
        self._store = ApiMeterStore(store_path)
        self._faults = _Faults()
        self._log: list[LoggedRequest] = []
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: LoopbackServer | None = None

    def __repr__(self) -> str:
        return f"ApiMeterServer(host={self.host!r}, port={self.port}, tenant_id={self.tenant_id!r})"

    # lifecycle

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox API_Meter is not started")
        return self._server.base_url

    def start(self) -> ApiMeterServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = LoopbackServer(
            self._handle, host=self.host, port=self.port, idle_timeout=IDLE_TIMEOUT_SECONDS, name="api-meter"
        ).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection (so clients reconnect to a restarted server)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # a request held by a "slow" fault gives up now
        server.stop()

    def __enter__(self) -> ApiMeterServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # read accessors for tests

    def records(self) -> dict[StoredKey, StoredRecord]:
        """Current values by (tenant_id, provider, model, usage_date)."""
        return self._store.records()

    def totals(self, *, usage_dates: list[date] | None = None) -> Totals:
        return self._store.totals(usage_dates=usage_dates)

    @property
    def request_log(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self._log)

    # faults on demand

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next n usage requests with a 5xx status, applying nothing."""
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next injects server errors (5xx), got {status}")
        self._faults.arm(n, _Fault("fail", status=status))

    def rate_limit_next(self, n: int, retry_after: str | int | datetime = "1") -> None:
        """Answer the next n usage requests 429 with Retry-After (seconds, or an HTTP date)."""
        if isinstance(retry_after, datetime):
            if retry_after.tzinfo is None:
                raise ValueError("a Retry-After date must be timezone-aware")
            retry_after = format_datetime(retry_after.astimezone(UTC), usegmt=True)
        self._faults.arm(n, _Fault("rate_limit", status=429, retry_after=str(retry_after)))

    def slow_next(self, n: int, seconds: float) -> None:
        """Hold the next n usage requests for `seconds` before handling them (past a client's timeout)."""
        self._faults.arm(n, _Fault("slow", seconds=seconds))

    def drop_after_apply_next(self, n: int) -> None:
        """Apply the next n valid usage requests, then close the connection without an answer."""
        self._faults.arm(n, _Fault("drop_after_apply"))

    # request handling

    def _handle(self, request: Request) -> Response:
        """Decide the answer, log it, then send it: a client that has its answer sees it in the log."""
        try:
            reply = self._framing_error(request) or self._answer(request)
        except Exception:
            logger.exception("sandbox API_Meter failed on %s %s", request.method, request.path)
            reply = _Reply(500, {"error": "internal error of the sandbox API_Meter"}, close=True, fault="internal")
        entry = LoggedRequest(
            datetime.now(UTC), request.method, request.path, len(request.body), reply.status, reply.records, reply.fault
        )
        with self._log_lock:
            self._log.append(entry)
        return reply.response()

    @staticmethod
    def _framing_error(request: Request) -> _Reply | None:
        length = request.headers.get("content-length")
        if "transfer-encoding" in request.headers or (length is None and request.method in ("POST", "PUT", "PATCH")):
            return _Reply(411, {"error": "a Content-Length header is required"}, close=True)
        if length is not None and not length.isdigit():
            return _Reply(400, {"error": f"malformed Content-Length {length!r}"}, close=True)
        return None

    def _answer(self, request: Request) -> _Reply:
        if request.path != USAGE_PATH:
            return _Reply(404, {"error": f"no such endpoint: {request.path}"})
        if request.method != "POST":
            return _Reply(405, {"error": f"{request.method} is not allowed here; use POST"}, {"Allow": "POST"})
        body = request.body
        if self.max_body_bytes is not None and len(body) > self.max_body_bytes:
            return _Reply(413, {"error": f"body of {len(body)} bytes exceeds the limit of {self.max_body_bytes}"})
        slow = self._faults.take("slow")
        if slow is not None and self._stopping.wait(slow.seconds):
            return _Reply(None, close=True, fault="slow")  # stopped while holding the request
        injected = self._faults.take("rate_limit") or self._faults.take("fail")
        if injected is not None:
            headers = {"Retry-After": injected.retry_after} if injected.retry_after else {}
            return _Reply(injected.status, {"error": f"injected fault: {injected.kind}"}, headers, fault=injected.kind)
        reply = self._apply(request.headers.get("authorization", ""), body)
        return replace(reply, fault=reply.fault or ("slow" if slow else None))

    def _apply(self, authorization: str, body: bytes) -> _Reply:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), self._token.encode()):
            return _Reply(401, {"error": "missing or invalid bearer token"})
        try:
            payload = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            details = [{"index": None, "field": "(body)", "message": f"not valid JSON: {exc}"}]
            return _Reply(400, {"error": "invalid request", "details": details})
        records = payload.get("records") if isinstance(payload, dict) else None
        count = len(records) if isinstance(records, list) else 0
        tenant = payload.get("tenant_id") if isinstance(payload, dict) else None
        if isinstance(tenant, str) and is_uuid_text(tenant) and tenant.lower() != self.tenant_id:
            return _Reply(403, {"error": f"this token is not allowed for tenant_id {tenant}"}, records=count)
        try:
            tenant_id, valid = validate_usage_request(payload)
        except InvalidRequest as invalid:
            return _Reply(400, {"error": str(invalid), "details": invalid.details}, records=count)
        inserted, updated = self._store.upsert(tenant_id, valid, datetime.now(UTC))
        if self._faults.take("drop_after_apply") is not None:
            return _Reply(None, close=True, records=count, fault="drop_after_apply")
        return _Reply(200, {"inserted": inserted, "updated": updated, "total": inserted + updated}, records=count)
