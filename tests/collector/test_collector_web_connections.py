"""Issue 18, idle connections: header and body read deadlines, per-address and total caps, the listen backlog,
and the dashboard answering while 2,000 idle connections stand."""

from __future__ import annotations

import resource
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.web.app import WebSettings
from entryscan.collector.web.server import BACKLOG
from tests.support.ci import needs_tool
from tests.support.collector_web import TOKEN, WebUnderTest, request

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StoreBase]:
    s = open_store(tmp_path / "c.db")
    yield s
    s.close()


def half_sent(port: int, source: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.sendall(b"GET /fleet HTTP/1.1\r\nHost: x\r\n")  # the head never ends
    return sock


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    sock.settimeout(seconds)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return False, b""
    except ConnectionResetError:
        return True, b""
    return True, data


def test_a_half_sent_request_is_closed_after_the_header_deadline(tmp_path: Path, store: StoreBase) -> None:
    web = WebUnderTest(tmp_path, store, settings=WebSettings(header_timeout_s=1.0, body_timeout_s=1.0))
    try:
        started = time.monotonic()
        head = half_sent(web.port, "127.0.0.1")
        body = socket.create_connection(("127.0.0.1", web.port), timeout=10)
        body.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nusername=")  # body stalls
        for sock in (head, body):
            closed, data = closed_within(sock, 5)
            assert closed and data.startswith(b"HTTP/1.1 408 "), data
            sock.close()
        assert time.monotonic() - started < 4
    finally:
        web.stop()


def test_one_address_cannot_hold_more_than_its_share(tmp_path: Path, store: StoreBase) -> None:
    web = WebUnderTest(tmp_path, store, settings=WebSettings(max_per_address=5, max_connections=8))
    held = [half_sent(web.port, "127.0.0.2") for _ in range(5)]
    try:
        extra = half_sent(web.port, "127.0.0.2")
        closed, data = closed_within(extra, 5)
        assert closed and data.startswith(b"HTTP/1.1 503 ")
        extra.close()
        held += [half_sent(web.port, "127.0.0.3") for _ in range(3)]  # 8 in all: the total cap
        over = socket.create_connection(("127.0.0.1", web.port), timeout=5, source_address=("127.0.0.4", 0))
        assert closed_within(over, 5)[1].startswith(b"HTTP/1.1 503 ")
        over.close()
        for sock in held[:2]:
            sock.close()
        time.sleep(0.3)
        assert request(f"{web.base}/healthz")[0] == 200  # room again once connections end
    finally:
        for sock in held:
            sock.close()
        web.stop()


def test_the_listen_backlog_is_not_five(tmp_path: Path, store: StoreBase) -> None:
    assert BACKLOG >= 512
    web = WebUnderTest(tmp_path, store)
    try:
        if shutil.which("ss") is None:
            pytest.skip("ss (iproute2) not installed")
        listing = subprocess.run(["ss", "-ltnH", f"sport = :{web.port}"], capture_output=True, text=True,
                                 check=True).stdout.split()
        assert int(listing[2]) == BACKLOG  # a listening socket's Send-Q is its backlog
    finally:
        web.stop()


def test_the_dashboard_answers_while_two_thousand_idle_connections_stand(tmp_path: Path, store: StoreBase) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 5000:
        if hard != resource.RLIM_INFINITY and hard < 5000:
            needs_tool(f"open-file limit {hard} is below what 2,000 connections need on both ends")
        resource.setrlimit(resource.RLIMIT_NOFILE, (5000, hard))
    web = WebUnderTest(tmp_path, store, settings=WebSettings(header_timeout_s=60.0))
    idle: list[socket.socket] = []
    try:
        started = time.monotonic()
        for n in range(2000):  # 20 addresses x 100 (the per-address cap), like a crowd behind no proxy
            idle.append(half_sent(web.port, f"127.0.1.{n // 100 + 1}"))
        opened_s = time.monotonic() - started
        asked = time.monotonic()
        status, _, body = request(f"{web.base}/fleet", headers=AUTH)
        answered_s = time.monotonic() - asked
        assert status == 200 and b'id="fleet-body"' in body
        assert answered_s < 2.0, answered_s
        assert opened_s < 30, opened_s
        assert web.server.book.total >= 2000
        print(f"2,000 idle connections opened in {opened_s:.2f} s; the dashboard answered in {answered_s:.3f} s")
    finally:
        for sock in idle:
            sock.close()
        web.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
