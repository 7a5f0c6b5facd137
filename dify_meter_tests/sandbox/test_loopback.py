"""The loopback wire every simulator and test server shares, seen from a raw socket: keep-alive, framing,
answers that close, and a stop that also ends kept-alive connections."""

from __future__ import annotations

import socket

import pytest

from dify_meter.sandbox.loopback import LoopbackServer, Request, Response


def echo(request: Request) -> Response:
    if request.path == "/drop":
        return Response(None)
    if request.path == "/truncate":
        return Response(200, b"0123456789", truncate_to=4)
    body = f"{request.method} {request.path} {request.query} {request.body!r}".encode()
    return Response(200, body, [("Content-Type", "text/plain")])


def connect(server: LoopbackServer) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def read_answer(connection: socket.socket) -> tuple[bytes, bytes]:
    """One answer framed by its Content-Length: (head, body)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[1]
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head, body


def test_one_connection_carries_several_requests_and_the_first_query_value_wins():
    with LoopbackServer(echo) as server, connect(server) as connection:
        connection.sendall(b"GET /a?x=1&x=2 HTTP/1.1\r\nHost: h\r\n\r\n")
        first = read_answer(connection)
        connection.sendall(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
        second = read_answer(connection)
    assert first[0].startswith(b"HTTP/1.1 200 OK\r\n") and first[1] == b"GET /a {'x': '1'} b''"
    assert second[1] == b"POST /b {} b'abc'" and b"connection: close" not in second[0].lower()


def test_a_chunked_body_is_not_read_as_the_next_request_the_connection_closes_instead():
    with LoopbackServer(echo) as server, connect(server) as connection:
        connection.sendall(b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        received = read_until_closed(connection)
    assert received.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in received
    assert received.endswith(b"POST /c {} b''")


def test_a_dropped_answer_closes_at_once_and_a_truncated_one_after_part_of_its_body():
    with LoopbackServer(echo) as server:
        with connect(server) as connection:
            connection.sendall(b"GET /drop HTTP/1.1\r\nHost: h\r\n\r\n")
            assert read_until_closed(connection) == b""
        with connect(server) as connection:
            connection.sendall(b"GET /truncate HTTP/1.1\r\nHost: h\r\n\r\n")
            head, _, body = read_until_closed(connection).partition(b"\r\n\r\n")
    assert b"Content-Length: 10" in head and body == b"0123"


def test_stop_ends_kept_alive_connections_and_only_loopback_is_served():
    server = LoopbackServer(echo).start()
    connection = connect(server)
    connection.sendall(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
    read_answer(connection)
    server.stop()
    try:
        assert connection.recv(1) == b""
    except ConnectionResetError:
        pass  # closed as hard as that: it ended either way
    finally:
        connection.close()
    with pytest.raises(ValueError, match="loopback"):
        LoopbackServer(echo, host="0.0.0.0")
