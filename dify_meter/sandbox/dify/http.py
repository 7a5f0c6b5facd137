"""The Dify simulator's HTTP/1.1 wire: keep-alive connections, one thread each, one socket write per answer.

Headers and body go out in one write (separate writes cost ~40 ms per request through Nagle plus
delayed ACK). A reply with no status closes the connection without answering; a truncated reply
sends half its body under the full Content-Length, then closes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dify_meter.sandbox.dify.exchange import Reply, Request

Answer = Callable[[Request], Reply]


class DifyHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connecting at once must not wait for SYN retries

    def __init__(self, address: tuple[str, int], answer: Answer, dify_version: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.answer, self.dify_version = answer, dify_version
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

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
    server: DifyHttpServer

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
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query: dict[str, str] = {}
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            query.setdefault(key, value)  # Flask's request.args.to_dict(): first value wins
        headers = {key.lower(): value for key, value in self.headers.items()}
        self._send(self.server.answer(Request(method, url.path, query, headers, body)))

    def _send(self, reply: Reply) -> None:
        if reply.status is None:
            self.close_connection = True
            return
        body = reply.payload()
        lines = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            "Server: dify-simulator",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(body)}",
            f"X-Version: {self.server.dify_version}",
            *(f"{name}: {value}" for name, value in reply.headers),
        ]
        if reply.truncated:
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request record is `DifySimulator.request_log`."""
