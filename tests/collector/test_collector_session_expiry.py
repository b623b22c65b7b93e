"""Operators' sessions end SESSION_S (12 h) after login, on the session clock (monotonic, injectable).

Before: nothing tested expiry; the check read ``time.monotonic()`` directly, so a test could not reach 12 h,
and the expiry comparison could have been dropped unseen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from entryscan.collector.store import StoreBase, open_store
from entryscan.collector.web.auth import MAX_SESSIONS, SESSION_S, Auth, hash_password
from tests.support.collector_web import PASSWORD, WebUnderTest, new_opener, post_form, request


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_session_is_refused_once_expired_and_forgotten() -> None:
    clock = Clock()
    auth = Auth({"operator": hash_password(PASSWORD, params=(2, 1, 1))}, clock=clock)
    session = auth.login("operator", PASSWORD)
    assert session is not None and auth.session_user(session) == "operator"
    clock.t += SESSION_S - 1
    assert auth.session_user(session) == "operator"
    clock.t += 1
    assert auth.session_user(session) is None
    clock.t -= 10  # forgotten, not merely refused: an earlier clock does not bring it back
    assert auth.session_user(session) is None


def test_a_full_table_drops_expired_sessions_first() -> None:
    clock = Clock()
    auth = Auth({"operator": hash_password(PASSWORD, params=(2, 1, 1))}, clock=clock)
    old = auth.login("operator", PASSWORD)
    clock.t += SESSION_S
    auth._sessions.update({f"s{i}": ("operator", clock.t + SESSION_S) for i in range(MAX_SESSIONS - 1)})
    fresh = auth.login("operator", PASSWORD)
    assert fresh is not None and auth.session_user(fresh) == "operator"
    assert old not in auth._sessions and len(auth._sessions) == MAX_SESSIONS


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebUnderTest]:
    store: StoreBase = open_store(tmp_path / "c.db")
    w = WebUnderTest(tmp_path, store)
    yield w
    w.stop()
    store.close()


def test_an_expired_session_is_sent_to_the_login_page(web: WebUnderTest) -> None:
    clock = Clock()
    web.server.app.auth.clock = clock
    opener = new_opener()
    assert post_form(f"{web.base}/login", {"username": "operator", "password": PASSWORD}, opener=opener)[0] == 303
    assert request(f"{web.base}/fleet", opener=opener)[0] == 200
    clock.t += SESSION_S - 60
    assert request(f"{web.base}/fleet", opener=opener)[0] == 200
    clock.t += 60
    status, headers, _ = request(f"{web.base}/fleet", opener=opener)
    assert (status, headers["location"]) == (303, "/login")
    assert request(f"{web.base}/api/fleet", opener=opener)[0] == 401
