"""The review server outlives bad clients: deep bodies, hang-ups, run files that vanish or are
damaged, idle and trickling connections (reliability III, class 2). Raw sockets, loopback only,
every loop bounded."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from clusterpipe.review import ReviewServer
from clusterpipe.review import server as server_module

from ..fake_run import make_run
from .test_review import call


@pytest.fixture
def fast(tmp_path, monkeypatch):
    """A server whose requests time out after 0.5 s and that takes 8 connections at once."""
    monkeypatch.setattr(server_module, "REQUEST_SECONDS", 0.5)
    monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 8)
    out = tmp_path / "out"
    make_run(out, {"alice": 4, "Face_0": 4})
    srv = ReviewServer(out, 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, out
    srv.shutdown()
    srv.server_close()


def _raw(srv, data: bytes, wait: float = 5.0) -> bytes:
    """Send bytes on a fresh connection; what comes back until the server closes or `wait`."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=wait) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def _post(srv, body: bytes) -> bytes:
    head = (
        f"POST /api/move HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
        f"X-Clusterpipe-Token: {srv.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return _raw(srv, head.encode() + body)


def test_a_deeply_nested_body_is_a_400(fast):
    srv, _ = fast
    for depth in (200, 100_000):
        answer = _post(srv, b"[" * depth + b"]" * depth)
        assert answer.startswith(b"HTTP/1.1 400") and b"nests over" in answer
    assert call(srv, "GET", "/api/folders")[0] == 200


def test_clients_that_hang_up_print_no_traceback(fast, capfd, caplog):
    srv, _ = fast
    caplog.set_level(logging.DEBUG, logger="clusterpipe")
    for _ in range(5):  # ask for a page and close before reading it
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(
                f"GET /?token={srv.token} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode()
            )
    # half a request, then gone
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"POST /api/move HTTP/1.1\r\nContent-Length: 900\r\n")
    time.sleep(0.8)
    assert call(srv, "GET", "/api/folders")[0] == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("damage", ["removed", "damaged"])
def test_a_run_file_that_vanishes_or_is_damaged_is_a_409_naming_it(fast, damage):
    srv, out = fast
    assert call(srv, "GET", "/api/folders")[0] == 200
    faces = out / "faces.jsonl"
    saved = faces.read_bytes()
    if damage == "removed":
        faces.unlink()
    else:
        faces.write_bytes(b'{"id": "x", "broken\n')
    for method, path, body in (
        ("GET", "/api/folders", None),
        ("GET", "/face/vid-0000000-0", None),
        ("POST", "/api/move", {"faces": ["vid-0000000-0"], "to": "bob"}),
    ):
        status, answer = call(srv, method, path, body)
        assert status == 409, (path, status, answer)
        assert "faces.jsonl" in answer["error"] and "Errno" not in answer["error"]
    faces.write_bytes(saved)  # the server kept serving
    assert call(srv, "GET", "/api/folders")[0] == 200


def test_idle_and_trickling_connections_are_closed(fast):
    srv, _ = fast
    t = time.monotonic()
    assert _raw(srv, b"", wait=5) == b""  # idle: closed without an answer
    assert time.monotonic() - t < 2
    t = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        closed = False
        for ch in f"GET /api/folders HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n".encode():
            try:
                s.sendall(bytes([ch]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)  # slowloris: a byte every 0.1 s, never finishing the headers
            if time.monotonic() - t > 4:
                break
        if not closed:
            s.settimeout(2)
            try:
                closed = s.recv(100) == b""
            except (ConnectionResetError, TimeoutError):
                closed = True
    assert closed and time.monotonic() - t < 4


def test_many_idle_connections_do_not_stop_the_server(fast):
    srv, _ = fast
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(40)]
    try:
        time.sleep(1.0)  # over the deadline: the ones that held a slot are closed
        assert call(srv, "GET", "/api/folders")[0] == 200
        assert threading.active_count() < 30
    finally:
        for s in idle:
            s.close()


def test_other_methods_chunked_bodies_and_bad_headers_get_json_4xx(fast):
    srv, _ = fast
    for method in ("PUT", "DELETE", "OPTIONS", "PATCH"):
        status, answer = call(srv, method, "/api/move", {"faces": []})
        assert status == 405 and "not served" in answer["error"], method
    head = (
        f"POST /api/move HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
        f"X-Clusterpipe-Token: {srv.token}\r\nContent-Type: application/json\r\n"
    )
    chunked = _raw(srv, (head + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n").encode())
    assert chunked.startswith(b"HTTP/1.1 411") and chunked.count(b"HTTP/1.1") == 1
    assert b'"error"' in chunked
    bad_length = _raw(srv, (head + "Content-Length: abc\r\n\r\n{}").encode())
    assert bad_length.startswith(b"HTTP/1.1 400") and b"Content-Length" in bad_length
    status, _ = call(srv, "GET", "/api/folders", headers={"X-Clusterpipe-Seen": "\u00b2"})
    assert status == 200  # a superscript digit is no version, not a 500
