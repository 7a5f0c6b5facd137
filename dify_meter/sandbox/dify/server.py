"""A Dify console API simulator over real loopback HTTP, serving a `Workspace`.

    with DifySimulator(generate_workspace()) as dify:
        httpx.get(f"{dify.base_url}/console/api/apps", headers=dify.auth_headers())

Every response carries `X-Version: <dify_version>`. Besides the endpoints (`dify_api`), a simulator has:
- authentication by the admin API key (always) and by email/password login, in the behaviour of
  `dify_version` (`dify_accounts`), with access and refresh tokens that expire on the simulator's clock
  (`set_now` pins it; else it is a monotonic wall clock);
- `latency_ms` of waiting before each answer, and `max_parallel`: at most that many requests handled
  at once (a busy Dify), with the peak seen in `peak_concurrency`;
- `faults`: errors, malformed or truncated bodies and dropped connections on demand (`dify_faults`);
- hooks: `after_request` / `mutate_on` change the workspace between two requests (with `dify_changes`),
  `intercept` answers a request instead of Dify;
- `request_log`: a `RequestRecord` of every request (method, path, query, auth, status, fault).

A request goes: concurrency gate -> latency -> fault draw -> intercepts -> `respond` (Dify: routing, setup,
authentication, the endpoint) -> the fault shapes the reply -> record -> after-request hooks -> sent.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from dify_meter.core.validation import is_loopback_host
from dify_meter.sandbox.dify.accounts import NOT_SET_UP, AccountService, AuthVia, LoginBehaviour
from dify_meter.sandbox.dify.api import BEFORE_SETUP, UNAUTHENTICATED, match
from dify_meter.sandbox.dify.exchange import Call, Reply, RequestRecord
from dify_meter.sandbox.dify.faults import Faults, FaultSpec, fault_reply
from dify_meter.sandbox.dify.queries import ApiError
from dify_meter.sandbox.dify.tokens import SessionTokens
from dify_meter.sandbox.dify.versions import VersionBehaviour
from dify_meter.sandbox.dify.workspace import Workspace
from dify_meter.sandbox.loopback import LoopbackServer, Request, Response

DEFAULT_DIFY_VERSION = "1.12.1"
DEFAULT_API_KEY = "sandbox-admin-key"
ACCESS_TOKEN_TTL = 3600.0  # Dify's ACCESS_TOKEN_EXPIRE_MINUTES = 60
REFRESH_TOKEN_TTL = 30 * 24 * 3600.0  # Dify's REFRESH_TOKEN_EXPIRE_DAYS = 30
INTERNAL_ERROR = {"code": "internal_server_error", "message": "Internal Server Error", "status": 500}

# The body of the request being answered, for endpoints that read one (like Flask's request context):
# `respond` keeps its (method, path, args, headers) signature, which subclasses override.
_REQUEST_BODY: ContextVar[bytes] = ContextVar("dify_request_body", default=b"")

RecordPredicate = Callable[[RequestRecord], bool]
RecordAction = Callable[[RequestRecord], object]
Intercept = Callable[[Request], Reply | tuple[int, Any] | None]


class _Gate:
    """At most `limit` requests inside at once (None: no limit); counts them, and the peak."""

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"max_parallel must be 1 or more (or None for no limit), got {limit}")
        self._slots = threading.BoundedSemaphore(limit) if limit else None
        self._lock = threading.Lock()
        self.inside = 0
        self.peak = 0

    @contextmanager
    def entered(self) -> Iterator[None]:
        if self._slots:
            self._slots.acquire()
        with self._lock:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
        try:
            yield
        finally:
            with self._lock:
                self.inside -= 1
            if self._slots:
                self._slots.release()


class DifySimulator:
    def __init__(
        self,
        workspace: Workspace,
        *,
        api_key: str = DEFAULT_API_KEY,
        workspace_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        dify_version: str = DEFAULT_DIFY_VERSION,
        email: str | None = None,
        password: str | None = None,
        access_token_ttl: float = ACCESS_TOKEN_TTL,
        refresh_token_ttl: float = REFRESH_TOKEN_TTL,
        latency_ms: float = 0,
        max_parallel: int | None = None,
        faults: Iterable[FaultSpec | str] = (),
        set_up: bool = True,
    ) -> None:
        """`email`/`password`: the account that can log in (the workspace account with that email, else the
        owner takes it; a password alone logs in the owner by its email). `set_up=False`: Dify before
        `POST /console/api/setup`, which then sets the login email and password."""
        if not is_loopback_host(host):
            raise ValueError(f"the Dify simulator only listens on loopback addresses, not {host!r}")
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be 0 or more, got {latency_ms}")
        if workspace_id:
            workspace.tenant.id = workspace_id  # the id the exporter is told to send is the tenant's id
        self.workspace = workspace
        self.api_key = api_key
        self.workspace_id = workspace.tenant.id
        self.host, self.port = host, port
        self.dify_version = dify_version
        self.version = VersionBehaviour.of(dify_version)
        self.latency_ms = latency_ms
        self._pinned_now: datetime | None = None
        self._wall_start, self._monotonic_start = datetime.now(UTC), time.monotonic()
        tokens = SessionTokens(self.clock, access_token_ttl, refresh_token_ttl)
        self.accounts = AccountService(
            workspace,
            LoginBehaviour.of(dify_version),
            tokens,
            self.clock,
            api_key=api_key,
            email=email,
            password=password,
            set_up=set_up,
        )
        self.faults = Faults()
        for fault in faults:
            self.faults.add(fault)
        self.request_log: list[RequestRecord] = []
        self.errors: list[BaseException] = []  # unexpected exceptions in handlers (answered with 500)
        self._log_lock = threading.Lock()
        self._gate = _Gate(max_parallel)
        self._hooks_lock = threading.Lock()
        self._after_hooks: list[tuple[RecordPredicate, RecordAction]] = []
        self._intercepts: list[Intercept] = []
        self._server: LoopbackServer | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> DifySimulator:
        if self._server is not None:
            raise RuntimeError("the Dify simulator is already running")
        self._server = LoopbackServer(self._answer, host=self.host, port=self.port, name="dify-simulator").start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> DifySimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what tests use --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def email(self) -> str | None:
        """The email that logs in, if email/password login is configured."""
        account = self.accounts.login_account
        return account.email if account and self.accounts.password else None

    @property
    def password(self) -> str | None:
        return self.accounts.password

    def auth_headers(self) -> dict[str, str]:
        """The admin API key headers (they work in every Dify version)."""
        return {"Authorization": f"Bearer {self.api_key}", "X-WORKSPACE-ID": self.workspace_id}

    def set_now(self, moment: datetime | None) -> None:
        """Pin the server's clock (detail reads stamp `read_at`/`updated_at` with it; tokens expire by it);
        None = real time again."""
        if moment is not None and moment.tzinfo is None:
            raise ValueError("the simulator clock needs a timezone-aware datetime")
        self._pinned_now = None if moment is None else moment.astimezone(UTC)

    def clock(self) -> datetime:
        """The simulator's time to the microsecond: the pinned moment, else a monotonic wall clock."""
        if self._pinned_now is not None:
            return self._pinned_now
        return self._wall_start + timedelta(seconds=time.monotonic() - self._monotonic_start)

    def now(self) -> datetime:
        """The simulator's time in whole seconds, as Dify stores timestamps."""
        return self.clock().replace(microsecond=0)

    @property
    def detail_reads(self) -> dict[str, int]:
        return self.workspace.detail_reads

    @property
    def peak_concurrency(self) -> int:
        """The most requests that were being handled at the same moment so far."""
        return self._gate.peak

    def requests_to(self, path_suffix: str) -> list[RequestRecord]:
        with self._log_lock:
            return [r for r in self.request_log if r[1].endswith(path_suffix)]

    def after_request(self, predicate: RecordPredicate, action: RecordAction) -> None:
        """Run `action(record)` after each request whose record `predicate` accepts, holding the workspace lock,
        before the answer is sent: the client's next request already sees what `action` changed."""
        with self._hooks_lock:
            self._after_hooks.append((predicate, action))

    def mutate_on(self, path_contains: str, nth: int, change: Callable[[Workspace], object]) -> None:
        """Once: `change(workspace)` right after the `nth` (from 1) request, counted from now, whose path contains
        `path_contains` and that was answered 2xx without a fault (that answer does not show the change yet)."""
        if nth < 1:
            raise ValueError(f"nth counts from 1, got {nth}")
        seen = [0]

        def predicate(record: RequestRecord) -> bool:
            if seen[0] >= nth or record.fault or not (200 <= (record.status or 0) < 300):
                return False
            if path_contains not in record.path:
                return False
            seen[0] += 1
            return seen[0] == nth

        self.after_request(predicate, lambda _record: change(self.workspace))

    def intercept(self, answer: Intercept) -> None:
        """Let `answer(request)` answer requests instead of Dify: a `Reply` or `(status, body)`, or None to pass.
        The request is recorded like any other (with no fault)."""
        with self._hooks_lock:
            self._intercepts.append(answer)

    def clear_hooks(self) -> None:
        with self._hooks_lock:
            self._after_hooks.clear()
            self._intercepts.clear()

    # --- serving ---------------------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        return self.handle(request).response(self.dify_version)

    def handle(self, request: Request) -> Reply:
        """Answer one request from the wire (see the module docstring for the steps)."""
        with self._gate.entered():
            if self.latency_ms:
                time.sleep(self.latency_ms / 1000)
            fault = self.faults.draw(request.path)
            try:
                if fault is None:
                    reply = self._serve(request)
                else:
                    reply = fault_reply(fault, self._serve(request) if fault.serves else None)
            except Exception as error:  # an intercept or fault bug: answer 500, keep it for the test to see
                reply = self._internal_error(error, None)
            record = RequestRecord(
                request.method,
                request.path,
                dict(request.query),
                reply.auth,
                reply.status,
                fault.kind if fault else None,
            )
            with self._log_lock:
                self.request_log.append(record)
            try:
                self._run_after_hooks(record)
            except Exception as error:  # a hook's bug: the answer still goes out, the test sees the error
                self._internal_error(error, None)
        return reply

    def _serve(self, request: Request) -> Reply:
        with self._hooks_lock:
            intercepts = list(self._intercepts)
        for intercept in intercepts:
            answer = intercept(request)
            if answer is not None:
                return Reply.of(answer)
        token = _REQUEST_BODY.set(request.body)
        try:
            return Reply.of(self.respond(request.method, request.path, request.query, request.headers))
        finally:
            _REQUEST_BODY.reset(token)

    def _run_after_hooks(self, record: RequestRecord) -> None:
        with self._hooks_lock:
            hooks = list(self._after_hooks)
        if not hooks:
            return
        with self.workspace.lock:
            for predicate, action in hooks:
                if predicate(record):
                    action(record)

    def respond(self, method: str, path: str, args: dict[str, str], headers: Mapping[str, str]) -> Reply:
        """Dify's own answer: routing (404/405), setup, authentication, then the endpoint."""
        auth: AuthVia | None = None
        try:
            route, params = match(method, path)
            if not self.accounts.set_up and route.handler not in BEFORE_SETUP:
                raise NOT_SET_UP
            account = self.workspace.owner
            if route.handler not in UNAUTHENTICATED:
                account, auth = self.accounts.authenticate(headers)
            with self.workspace.lock:
                call = Call(
                    self.workspace,
                    account,
                    path,
                    args,
                    params,
                    self.now(),
                    self.base_url,
                    route.hint_rules,
                    headers,
                    _REQUEST_BODY.get(),
                    self.accounts,
                    self.version,
                )
                status, payload = route.handler(call)
            return Reply(status, payload, headers=tuple(("Set-Cookie", c) for c in call.set_cookies), auth=auth)
        except ApiError as error:
            return Reply(error.status, self.version.error_body(error.body()), auth=auth)
        except Exception as error:  # a simulator bug: answer like Flask, and keep it for the test to see
            return self._internal_error(error, auth)

    def _internal_error(self, error: Exception, auth: AuthVia | None) -> Reply:
        self.errors.append(error)
        traceback.print_exception(error, file=sys.stderr)
        return Reply(500, INTERNAL_ERROR, auth=auth)
