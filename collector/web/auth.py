"""Operators' logins: a file of scrypt password hashes, in-memory sessions, and one bearer token for tools.

Users file, one operator a line: ``NAME:scrypt:N:R:P:SALT_B64:HASH_B64`` (``entryscan-collector users
add NAME --users FILE`` writes one). Sessions are random 256-bit tokens in an HttpOnly,
SameSite=Strict cookie; they expire after ``SESSION_S`` and live only in this process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from entryscan.device.errors import ConfigError
from entryscan.device.keys import read_secret_text

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SESSION_S = 12 * 3600
MAX_SESSIONS = 10_000
COOKIE = "es_session"


def hash_password(password: str, *, salt: bytes | None = None,
                  params: tuple[int, int, int] = (SCRYPT_N, SCRYPT_R, SCRYPT_P)) -> str:
    salt = salt or secrets.token_bytes(16)
    n, r, p = params
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024)
    return f"scrypt:{n}:{r}:{p}:{base64.b64encode(salt).decode()}:{base64.b64encode(digest).decode()}"


def _params_of(stored: str) -> tuple[int, int, int]:
    """The scrypt cost of a stored hash (the decoy matches it), the default for anything unreadable."""
    try:
        fields = stored.split(":")
        n, r, p = int(fields[1]), int(fields[2]), int(fields[3])
    except (ValueError, IndexError):
        return SCRYPT_N, SCRYPT_R, SCRYPT_P
    params = (n, r, p)
    usable = 1 < n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16
    return params if usable else (SCRYPT_N, SCRYPT_R, SCRYPT_P)


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, hash_b64 = stored.split(":")
        if scheme != "scrypt" or int(n) > 2**20 or int(r) > 32 or int(p) > 16:
            return False
        salt, want = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
        got = hashlib.scrypt(password.encode()[:1024], salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(want),
                             maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def load_users(path: Path) -> dict[str, str]:
    users = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--users", f"cannot read {path}: {exc}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep or not stored.startswith("scrypt:"):
            raise ConfigError("--users", f"{path}:{number}: want NAME:scrypt:N:R:P:SALT:HASH")
        users[name] = stored
    return users


@dataclass
class Auth:
    users: dict[str, str]
    token: str | None = None
    # Sessions age on this clock (monotonic: a wall-clock step neither ends nor prolongs them); tests move it.
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._sessions: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        # An unknown name is checked against this, made once with the cost of the real hashes: one scrypt
        # run per login either way, so timing does not tell which names exist.
        self._decoy = hash_password(secrets.token_urlsafe(16), salt=secrets.token_bytes(16),
                                    params=_params_of(next(iter(self.users.values()), "")))

    @classmethod
    def from_files(cls, users_file: Path | None, token_file: Path | None) -> Auth:
        users = load_users(users_file) if users_file else {}
        token = read_secret_text(token_file, "--api-token-file") if token_file else None
        if token is not None and len(token) < 16:
            raise ConfigError("--api-token-file", "the token must be at least 16 characters")
        return cls(users, token)

    def login(self, name: str, password: str) -> str | None:
        stored = self.users.get(name)
        ok = verify_password(password, stored if stored is not None else self._decoy)
        if stored is None or not ok:
            return None
        session = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                self._expire()
            self._sessions[session] = (name, self.clock() + SESSION_S)
        return session

    def logout(self, session: str) -> None:
        with self._lock:
            self._sessions.pop(session, None)

    def session_user(self, session: str | None) -> str | None:
        if not session:
            return None
        with self._lock:
            found = self._sessions.get(session)
            if found is None or found[1] <= self.clock():
                self._sessions.pop(session, None)
                return None
            return found[0]

    def bearer_ok(self, header: str | None) -> bool:
        if not self.token or not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self.token.encode())

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, (_, until) in self._sessions.items() if until < now]:
            del self._sessions[key]
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
