"""Loopback HTTP for the simulators and the test servers: the wire and the lifecycle, in one place.

    with LoopbackServer(answer) as server:  # answer(Request) -> Response, called on the connection's thread
        httpx.get(f"{server.base_url}/path")

The wire is HTTP/1.1 with keep-alive connections, one thread each, TCP_NODELAY and one socket write per
answer: headers and body in separate writes cost ~40 ms per request through Nagle plus delayed ACK.
A request's body is framed by its Content-Length only; after a request whose body cannot be framed
(chunked, or a malformed length) the connection is closed. A `Response` without a status closes the
connection without answering; `truncate_to` sends that many bytes of the body under the full
Content-Length, then closes. `stop()` also ends kept-alive connections, so a stopped server really
stops answering and clients reconnect to one restarted on the same port. IPv4 and IPv6 loopback only.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from dify_meter.core.validation import is_loopback_host

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.01  # how long stop() may wait for the serving loop to notice; the default 0.5 s would slow tests


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]  # first value of each name, like Flask's request.args.to_dict()
    headers: Mapping[str, str]  # names lower-cased
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Response:
    status: int | None  # None: close the connection without answering
    body: bytes = b""
    headers: Sequence[tuple[str, str]] = ()  # besides Date, Content-Length and Connection
    close: bool = False  # close the connection after this answer
    truncate_to: int | None = None  # send only this many bytes of the body, then close


Answer = Callable[[Request], Response]


class LoopbackServer:
    """Listens from construction (so `port` and `base_url` are known at once) and answers from `start()` to `stop()`.

    `port=0` takes a free port; `idle_timeout` closes a connection that sends nothing for that many seconds."""

    def __init__(
        self,
        answer: Answer,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float | None = None,
        name: str = "loopback",
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"a loopback server listens on loopback addresses only, not {host!r}")
        self.host = host
        self._wire = _Wire((host.strip("[]"), port), answer, idle_timeout)
        self._thread = threading.Thread(
            target=self._wire.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            name=f"{name}-{self.port}",
            daemon=True,
        )
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._wire.server_address[1])

    @property
    def base_url(self) -> str:
        host = self.host.strip("[]")
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():  # shutdown() waits for a serving loop, which never ran otherwise
            self._wire.shutdown()
        self._wire.close_connections()
        self._wire.server_close()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Wire(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connecting at once must not wait for SYN retries

    def __init__(self, address: tuple[str, int], answer: Answer, idle_timeout: float | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.answer, self.idle_timeout = answer, idle_timeout
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """HTTPServer's own also resolves the host's FQDN, a DNS round trip nothing here uses."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

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
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Wire

    def setup(self) -> None:
        super().setup()
        if self.server.idle_timeout is not None:
            self.connection.settimeout(self.server.idle_timeout)

    def _serve(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self._read_body(headers)
        url = urlsplit(self.path)
        query: dict[str, str] = {}
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            query.setdefault(key, value)
        self._send(self.server.answer(Request(self.command, url.path, query, headers, body)))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _read_body(self, headers: Mapping[str, str]) -> bytes:
        length = headers.get("content-length")
        if "transfer-encoding" in headers or (length is not None and not length.isdigit()):
            self.close_connection = True  # what follows could not be told apart from the next request
            return b""
        return self.rfile.read(int(length)) if length else b""

    def _send(self, response: Response) -> None:
        if response.status is None:
            self.close_connection = True
            return
        if response.close or response.truncate_to is not None:
            self.close_connection = True
        lines = [
            f"HTTP/1.1 {response.status} {_phrase(response.status)}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Length: {len(response.body)}",
            *(f"{name}: {value}" for name, value in response.headers),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        body = b"" if self.command == "HEAD" else response.body[: response.truncate_to]
        try:
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            self.close_connection = True  # the client has gone (e.g. after its timeout)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        logger.debug("%s " + format, self.address_string(), *args)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status of no standard, such as a test server's 599
        return ""
