"""One-time passes and anti-passback through the scan loop: only a final, recorded accept uses them up.

Real policy (signed passes from a real key), real journal file, MockFactory feedback; ``ScanLoop.handle`` is
called directly so each decision is one synchronous step.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from gpiozero.pins.mock import MockFactory

from entryscan.device.access.assemble import make_policy
from entryscan.device.access.credentials import signed_pass
from entryscan.device.config.settings import Config, parse_config
from entryscan.device.delivery.journal import Journal
from entryscan.device.errors import JournalError
from entryscan.device.hardware.feedback import GpioFeedback
from entryscan.device.model import Code
from entryscan.device.scan.debounce import Debouncer
from entryscan.device.scan.decoders import ZxingDecoder
from entryscan.device.scan.loop import EntryJournal, ScanLoop, ScanSettings

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
KEY = b"k" * 32


class SetClock:
    """A wall clock the test sets, synchronised or not."""

    def __init__(self, at: dt.datetime, synced: bool = True) -> None:
        self.at = at
        self.is_synced = synced

    def now(self) -> dt.datetime:
        return self.at

    def monotonic(self) -> float:
        import time

        return time.monotonic()

    def synced(self) -> bool:
        return self.is_synced


class Quiet:
    def notify(self) -> None:
        pass

    def tag_scanned(self, tag_id: str) -> None:
        pass

    def decided(self, event: dict[str, object]) -> None:
        pass


class NoCamera:
    name = "none"

    def open(self) -> None:
        pass

    def capture(self, timeout: float) -> None:
        return None

    def close(self) -> None:
        pass


@pytest.fixture
def issuer(tmp_path: Path) -> ed25519.Ed25519PrivateKey:
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "issuer.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    while OPEN:
        OPEN.pop().feedback.close()
    f.reset()


def door_config(folder: Path, extra: str = "") -> Config:
    text = f"""
[device]
id = "door-1"
site = "hq"
door = "main"
[mqtt]
url = "mqtt://localhost"
[journal]
path = "state/journal.db"
[policy]
mode = "credentials"
{extra}
[credentials.signed_pass]
trusted_keys = ["issuer.pub"]
"""
    return parse_config(text, folder)


def a_pass(key: ed25519.Ed25519PrivateKey, subject: str = "emp-7", *, one_time: bool = True,
           until: dt.datetime | None = NOW + dt.timedelta(days=1)) -> Code:
    text = signed_pass.issue(signed_pass.PassClaims(subject=subject, valid_until=until, one_time=one_time),
                             key, NOW - dt.timedelta(hours=1))
    return Code(raw=text.encode(), text=text)


OPEN: list[ScanLoop] = []


def make_loop(cfg: Config, clock: SetClock, factory: MockFactory, *, deny_unpersisted: bool = False) -> ScanLoop:
    """A loop (a restarted door each time: fresh policy, journal and feedback; the previous one is closed)."""
    while OPEN:
        OPEN.pop().feedback.close()
    policy = make_policy(cfg, clock, KEY)

    def open_journal() -> EntryJournal:
        return Journal(cfg.journal.path, device="door-1", site="hq", door="main", max_rows=1000, clock=clock)

    feedback = GpioFeedback(cfg.feedback, cfg.relay, pin_factory=factory)
    loop = ScanLoop(NoCamera(), ZxingDecoder(), Debouncer(0.0), policy, feedback, open_journal, Quiet(),
                    ScanSettings(capture_timeout_s=0.1, deny_unpersisted=deny_unpersisted))
    OPEN.append(loop)
    return loop


def outcome(loop: ScanLoop, code: Code) -> tuple[object, object]:
    event = loop.handle(code)
    return event["decision"], event["reason"]


def test_tamper_lockout_deny_does_not_use_up_a_one_time_pass(tmp_path: Path, issuer: ed25519.Ed25519PrivateKey,
                                                            factory: MockFactory) -> None:
    loop = make_loop(door_config(tmp_path), SetClock(NOW), factory)
    code = a_pass(issuer)
    loop.set_tamper_lockout(True)
    loop.health.tamper = True
    assert outcome(loop, code) == ("deny", "policy_mode")
    loop.health.tamper = False
    assert outcome(loop, code) == ("accept", "ok")  # before: already_used, a pass never honoured was spent
    assert outcome(loop, code) == ("deny", "already_used")


def test_tamper_lockout_deny_records_no_passage(tmp_path: Path, issuer: ed25519.Ed25519PrivateKey,
                                               factory: MockFactory) -> None:
    loop = make_loop(door_config(tmp_path, 'direction = "in"\npassback_window_s = 600'), SetClock(NOW), factory)
    code = a_pass(issuer, one_time=False)
    loop.set_tamper_lockout(True)
    loop.health.tamper = True
    assert outcome(loop, code) == ("deny", "policy_mode")
    loop.health.tamper = False
    assert outcome(loop, code) == ("accept", "ok")  # before: passback for an entry that never happened
    assert outcome(loop, code) == ("deny", "passback")


def test_storage_fault_deny_does_not_use_up_a_one_time_pass(tmp_path: Path, issuer: ed25519.Ed25519PrivateKey,
                                                           factory: MockFactory) -> None:
    cfg = door_config(tmp_path)
    loop = make_loop(cfg, SetClock(NOW), factory, deny_unpersisted=True)
    working = loop._open_journal

    def broken_open() -> EntryJournal:
        raise JournalError("disk gone")

    loop._open_journal = broken_open
    code = a_pass(issuer)
    assert outcome(loop, code) == ("deny", "policy_mode")
    loop._open_journal = working
    loop._next_reopen = 0.0
    assert outcome(loop, code) == ("accept", "ok")
    assert outcome(loop, code) == ("deny", "already_used")


def inject(path: Path, table: str) -> sqlite3.Connection:
    """Make every insert into ``table`` of the journal file fail, in SQLite itself."""
    db = sqlite3.connect(path)
    db.execute(f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'injected'); END")
    db.commit()
    return db


def test_use_commits_with_the_journal_row_or_not_at_all(tmp_path: Path, issuer: ed25519.Ed25519PrivateKey,
                                                       factory: MockFactory) -> None:
    """The row's transaction fails (injected): with on_storage_fault = "deny" nothing is used up."""
    cfg = door_config(tmp_path)
    loop = make_loop(cfg, SetClock(NOW), factory, deny_unpersisted=True)
    code = a_pass(issuer)
    assert outcome(loop, a_pass(issuer, "warm-up")) == ("accept", "ok")  # the journal file exists
    db = inject(cfg.journal.path, "outbox")
    assert outcome(loop, code) == ("deny", "policy_mode")
    db.execute("DROP TRIGGER fail_outbox")
    db.commit()
    assert outcome(loop, code) == ("accept", "ok")  # before: already_used, consumed apart from the journal
    assert outcome(loop, code) == ("deny", "already_used")
    used = db.execute("SELECT COUNT(*) FROM used").fetchone()[0]
    entries = db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'entry' AND decision = 'accept'").fetchone()[0]
    db.close()
    assert (used, entries) == (2, 2)  # one use per recorded accept, in the journal's own file


def test_an_accept_that_stands_unrecorded_still_uses_the_pass(tmp_path: Path, issuer: ed25519.Ed25519PrivateKey,
                                                             factory: MockFactory) -> None:
    """on_storage_fault = "open": the door opens without a row, so the pass is used up all the same; if even the
    use cannot be written a single-use pass cannot be guaranteed and is refused."""
    cfg = door_config(tmp_path)
    loop = make_loop(cfg, SetClock(NOW), factory)
    first, second = a_pass(issuer), a_pass(issuer, "second")
    assert outcome(loop, a_pass(issuer, "warm-up")) == ("accept", "ok")
    db = inject(cfg.journal.path, "outbox")
    assert outcome(loop, first) == ("accept", "ok")
    db.execute("CREATE TRIGGER fail_used BEFORE INSERT ON used BEGIN SELECT RAISE(ABORT, 'injected'); END")
    db.commit()
    assert outcome(loop, second) == ("deny", "rule_failed")
    db.execute("DROP TRIGGER fail_outbox")
    db.execute("DROP TRIGGER fail_used")
    db.commit()
    db.close()
    assert outcome(loop, first) == ("deny", "already_used")
    assert outcome(loop, second) == ("accept", "ok")


def test_a_full_journal_that_still_opens_uses_the_pass(tmp_path: Path, issuer: ed25519.Ed25519PrivateKey,
                                                      factory: MockFactory) -> None:
    cfg = door_config(tmp_path)
    loop = make_loop(cfg, SetClock(NOW), factory)
    clock = SetClock(NOW)
    loop._open_journal = lambda: Journal(cfg.journal.path, device="door-1", site="hq", door="main", max_rows=1,
                                         clock=clock)
    assert outcome(loop, a_pass(issuer, "fills-it")) == ("accept", "ok")
    code = a_pass(issuer)
    assert outcome(loop, code) == ("accept", "ok")  # unrecorded (full), the door opens: the pass is spent
    assert loop.health.storage == "full"
    assert outcome(loop, code) == ("deny", "already_used")


def test_a_wall_clock_far_ahead_does_not_prune_uses(tmp_path: Path, issuer: ed25519.Ed25519PrivateKey,
                                                  factory: MockFactory) -> None:
    """An unsynchronised clock ten years ahead must not erase the record of a pass used today."""
    cfg = door_config(tmp_path, "require_synced_clock = false")
    clock = SetClock(NOW)
    loop = make_loop(cfg, clock, factory)
    code = a_pass(issuer)
    assert outcome(loop, code) == ("accept", "ok")
    clock.at, clock.is_synced = NOW + dt.timedelta(days=3650), False
    later = make_loop(cfg, clock, factory)  # a restart: nothing pruned lately
    assert outcome(later, a_pass(issuer, "other", until=None)) == ("accept", "ok")
    clock.at, clock.is_synced = NOW + dt.timedelta(minutes=5), True
    again = make_loop(cfg, clock, factory)
    assert outcome(again, code) == ("deny", "already_used")  # before: accept, the use was pruned


def test_an_unsynchronised_use_of_an_untimed_pass_is_kept(tmp_path: Path, issuer: ed25519.Ed25519PrivateKey,
                                                         factory: MockFactory) -> None:
    """A pass without an expiry, used while the clock read 1970: its record outlives the clock's sync."""
    cfg = door_config(tmp_path)
    clock = SetClock(dt.datetime(1970, 1, 2, tzinfo=dt.UTC), synced=False)
    loop = make_loop(cfg, clock, factory)
    code = a_pass(issuer, until=None)
    assert outcome(loop, code) == ("accept", "ok")
    clock.at, clock.is_synced = NOW, True
    synced = make_loop(cfg, clock, factory)
    assert outcome(synced, a_pass(issuer, "other", until=None)) == ("accept", "ok")  # a write that may prune
    assert outcome(make_loop(cfg, clock, factory), code) == ("deny", "already_used")  # before: accept


def test_wipe_erases_the_use_records(tmp_path: Path, issuer: ed25519.Ed25519PrivateKey,
                                     factory: MockFactory) -> None:
    from entryscan.device.lifecycle.wipe import wipe

    cfg = door_config(tmp_path, 'direction = "in"')
    loop = make_loop(cfg, SetClock(NOW), factory)
    assert outcome(loop, a_pass(issuer)) == ("accept", "ok")
    if loop._journal is not None:
        loop._journal.close()  # type: ignore[attr-defined]
    loop.policy.reuse.close()  # type: ignore[union-attr]
    report = wipe(cfg)
    assert cfg.journal.path in report.removed and not report.failed
    assert not cfg.journal.path.exists() and not (cfg.journal.path.parent / "reuse.db").exists()
