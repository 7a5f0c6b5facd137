"""A Dify 1.12.1 console API simulator over real loopback HTTP, serving a `Workspace`.

    with DifySimulator(generate_workspace()) as dify:
        httpx.get(f"{dify.base_url}/console/api/apps", headers=dify.auth_headers())

Every response carries `X-Version: 1.12.1` and `Content-Type: application/json` and goes out in
one socket write (headers and body together: separate writes cost ~40 ms per request through
Nagle + delayed ACK). Authentication is pluggable (`authenticators`): the admin API key is the
one provided; email/password login can be added as another authenticator.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dify_meter.sandbox.dify_api import UNAUTHENTICATED, Call, match
from dify_meter.sandbox.dify_queries import ApiError
from dify_meter.sandbox.dify_tables import Account
from dify_meter.sandbox.dify_workspace import Workspace
from dify_meter.settings import is_loopback_host

DIFY_VERSION = "1.12.1"
DEFAULT_API_KEY = "sandbox-admin-key"
INVALID_TOKEN = ApiError(401, "unauthorized", "Invalid token.")
SHUTDOWN_POLL_SECONDS = 0.02  # how long stop() may wait for the serving loop to notice

# Headers (lower-cased names) -> the account the request acts as, or None if not this auth mode.
Authenticator = Callable[[Mapping[str, str]], Account | None]
RequestRecord = tuple[str, str, dict[str, str]]


def admin_key_authenticator(workspace: Workspace, api_key: str, workspace_id: str) -> Authenticator:
    """Dify's ADMIN_API_KEY mode: bearer key plus X-WORKSPACE-ID; acts as the workspace owner."""

    def authenticate(headers: Mapping[str, str]) -> Account | None:
        if headers.get("authorization") != f"Bearer {api_key}":
            return None
        if headers.get("x-workspace-id") != workspace_id:
            return None
        return workspace.owner

    return authenticate


class DifySimulator:
    def __init__(
        self,
        workspace: Workspace,
        *,
        api_key: str = DEFAULT_API_KEY,
        workspace_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"the Dify simulator only listens on loopback addresses, not {host!r}")
        if workspace_id:
            workspace.tenant.id = workspace_id  # the id the exporter is told to send is the tenant's id
        self.workspace = workspace
        self.api_key = api_key
        self.workspace_id = workspace.tenant.id
        self.host, self.port = host, port
        self.authenticators: list[Authenticator] = [admin_key_authenticator(workspace, api_key, self.workspace_id)]
        self.request_log: list[RequestRecord] = []
        self.errors: list[BaseException] = []  # unexpected exceptions in handlers (answered with 500)
        self._log_lock = threading.Lock()
        self._pinned_now: datetime | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> DifySimulator:
        if self._server is not None:
            raise RuntimeError("the Dify simulator is already running")
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), name="dify-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread:
            self._thread.join()

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

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "X-WORKSPACE-ID": self.workspace_id}

    def set_now(self, moment: datetime | None) -> None:
        """Pin the server's clock (detail reads stamp `read_at`/`updated_at` with it); None = real time."""
        if moment is not None and moment.tzinfo is None:
            raise ValueError("the simulator clock needs a timezone-aware datetime")
        self._pinned_now = moment

    def now(self) -> datetime:
        moment = self._pinned_now or datetime.now(UTC)
        return moment.astimezone(UTC).replace(microsecond=0)

    @property
    def detail_reads(self) -> dict[str, int]:
        return self.workspace.detail_reads

    def requests_to(self, path_suffix: str) -> list[RequestRecord]:
        with self._log_lock:
            return [r for r in self.request_log if r[1].endswith(path_suffix)]

    # --- serving ---------------------------------------------------------------------------------

    def respond(self, method: str, path: str, args: dict[str, str], headers: Mapping[str, str]) -> tuple[int, Any]:
        with self._log_lock:
            self.request_log.append((method, path, dict(args)))
        try:
            route, params = match(method, path)
            account = self.workspace.owner
            if route.handler not in UNAUTHENTICATED:
                account = self._authenticate(headers)
            with self.workspace.lock:
                call = Call(self.workspace, account, path, args, params, self.now(), self.base_url, route.hint_rules)
                return route.handler(call)
        except ApiError as error:
            return error.status, error.body()
        except Exception as error:  # a simulator bug: answer like Flask, and keep it for the test to see
            self.errors.append(error)
            traceback.print_exc(file=sys.stderr)
            return 500, {"code": "internal_server_error", "message": "Internal Server Error", "status": 500}

    def _authenticate(self, headers: Mapping[str, str]) -> Account:
        for authenticate in self.authenticators:
            account = authenticate(headers)
            if account is not None:
                return account
        raise INVALID_TOKEN


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], simulator: DifySimulator):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive connections too, so a stopped simulator really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # no endpoint served here reads a body; drain it for keep-alive
        url = urlsplit(self.path)
        args: dict[str, str] = {}
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            args.setdefault(key, value)  # Flask's request.args.to_dict(): first value wins
        headers = {key.lower(): value for key, value in self.headers.items()}
        status, payload = self.server.simulator.respond(method, url.path, args, headers)
        self._send(status, payload)

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode("utf-8")
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Server: dify-simulator\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            f"Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Version: {DIFY_VERSION}\r\n"
            "\r\n"
        )
        self.wfile.write(head.encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is `DifySimulator.request_log`."""
