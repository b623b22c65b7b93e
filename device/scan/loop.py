"""The scan thread: frame -> decode -> debounce -> policy -> journal -> feedback.

It never waits on the network: the only I/O per decision is one short SQLite
commit. The commit comes before the feedback so that anything a person saw at
the door is already on disk (a power cut between the two cannot lose it).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from entryscan.device.access.policy import Policy
from entryscan.device.errors import CameraError, ConfigError, JournalError
from entryscan.device.model import Code, Decision, Frame, PendingUse, Reason
from entryscan.device.ports import Camera, Decoder, Feedback, Notifier
from entryscan.device.scan.debounce import Debouncer

log = logging.getLogger(__name__)

SHAREABLE_DETAILS = ("name", "birth_date", "id_number")
JOURNAL_REOPEN_S = 5.0
# Unexpected errors in a row (each within LOOP_QUIET_S of the one before) before the scan thread gives up; the
# daemon then exits 70 and systemd starts a fresh process (Restart=on-failure), which a wedged library state may
# need. A quiet minute starts the count again: a rare error costs one restart, never the process.
MAX_LOOP_RESTARTS = 5
LOOP_QUIET_S = 60.0


class EntryJournal(Protocol):
    def record_entry(self, fields: dict[str, object], use: PendingUse | None = None) -> dict[str, object] | None: ...

    def record_use(self, use: PendingUse) -> None: ...

    def record_alert(self, kind: str, detail: dict[str, object]) -> None: ...


@dataclass
class Health:
    """Liveness facts the watchdog and the retained ``state`` read; written by the scan thread only."""

    started: float = field(default_factory=time.monotonic)
    last_frame: float = 0.0
    frames: int = 0
    scans: int = 0
    camera: str = "starting"
    storage: str = "ok"
    unpersisted: int = 0
    errors: int = 0
    loop_restarts: int = 0
    failed: bool = False  # the scan thread gave up after MAX_LOOP_RESTARTS unexpected errors in a row
    tamper: bool = False
    first_frame: threading.Event = field(default_factory=threading.Event)

    def frame_age(self) -> float:
        return time.monotonic() - self.last_frame if self.last_frame else float("inf")


@dataclass(frozen=True)
class ScanSettings:
    capture_timeout_s: float
    share: tuple[str, ...] = ()
    retry_min_s: float = 1.0
    retry_max_s: float = 30.0
    deny_unpersisted: bool = False


class ScanLoop:
    """Owns the camera; every other collaborator is injected by the builder."""

    def __init__(
        self,
        camera: Camera,
        decoder: Decoder,
        debouncer: Debouncer,
        policy: Policy,
        feedback: Feedback,
        open_journal: Callable[[], EntryJournal],
        notifier: Notifier,
        settings: ScanSettings,
        on_event: Callable[[dict[str, object]], None] | None = None,
        on_storage_fault: Callable[[str, dict[str, object]], None] | None = None,
    ) -> None:
        self.camera = camera
        self.decoder = decoder
        self.debouncer = debouncer
        self.policy = policy
        self.feedback = feedback
        self._open_journal = open_journal
        self._journal: EntryJournal | None = None
        self._notifier = notifier
        self._settings = settings
        self._on_event = on_event
        self._on_storage_fault = on_storage_fault
        self._next_reopen = 0.0
        self._tamper_lockout = False
        self._tamper_changes: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._wake = threading.Event()  # a tamper change wakes a camera retry wait
        self._fault_shown = False
        self.health = Health()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scan", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self.camera.close()
        self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def tamper_changed(self, opened: bool) -> None:
        """Called on gpiozero's thread; the scan thread journals the change (it owns the journal)."""
        self._tamper_changes.put(opened)
        self._wake.set()

    def set_tamper_lockout(self, enabled: bool) -> None:
        self._tamper_lockout = enabled

    def _run(self) -> None:
        self._journal = self._reopen_journal()
        delay = self._settings.retry_min_s
        crashes, last_crash = 0, -LOOP_QUIET_S
        while not self._stop.is_set():
            try:
                self._journal_tamper_changes()
                self.camera.open()
                self._capture_until_stopped()
            except CameraError as exc:
                delay = self._settings.retry_min_s if self.health.camera == "ok" else delay
                self._camera_fault(exc)
                # No close(): the adapter tidies up after its own failure and open() recovers,
                # reusing what it can (one Picamera2 instance for the life of the process).
                self._pause(delay)
                delay = min(delay * 2, self._settings.retry_max_s)
            except Exception as exc:  # noqa: BLE001 - before, any other error ended deciding, silently
                now = time.monotonic()
                crashes = 1 if now - last_crash > LOOP_QUIET_S else crashes + 1
                last_crash = now
                if not self._loop_crashed(exc, crashes):
                    return
                self._pause(min(self._settings.retry_min_s * 2 ** (crashes - 1), self._settings.retry_max_s))

    def _loop_crashed(self, exc: Exception, crashes: int) -> bool:
        """Log and alert an unexpected error in the loop; False once it is time to give up."""
        self.health.loop_restarts += 1
        self.health.errors += 1
        give_up = crashes >= MAX_LOOP_RESTARTS
        log.error("scan loop failed (%s: %s); %s", type(exc).__name__, exc,
                  "giving up: the daemon exits and systemd restarts it" if give_up else
                  f"restarting it (error {crashes} of {MAX_LOOP_RESTARTS} in a row)", exc_info=exc)
        with contextlib.suppress(Exception):  # closing a camera in an unknown state is best effort
            self.camera.close()
        self._alert("scan_error", {"error": type(exc).__name__, "detail": str(exc)[:200], "in_a_row": crashes,
                                   "restarting": not give_up})
        if give_up:
            self.health.failed = True
        return not give_up

    def _pause(self, seconds: float) -> None:
        """Wait before the next camera retry, journaling tamper changes the moment they happen."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            self._journal_tamper_changes()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(remaining)
            self._wake.clear()

    def _capture_until_stopped(self) -> None:
        while not self._stop.is_set():
            frame = self.camera.capture(self._settings.capture_timeout_s)
            self.health.last_frame = time.monotonic()
            self._journal_tamper_changes()
            if self.health.camera != "ok":
                self._camera_ok()  # recovered only once it delivers again, not merely reopens
            if frame is None:
                continue
            self.health.frames += 1
            if not self.health.first_frame.is_set():
                self.health.first_frame.set()
                self.feedback.ready()
            try:
                self.process(frame)
            except Exception:
                self.health.errors += 1
                log.exception("frame %d could not be processed", frame.seq)

    def process(self, frame: Frame) -> list[dict[str, object]]:
        """Decide every new code in ``frame``; returns the events recorded."""
        events = []
        for code in self.decoder.decode(frame.image):
            if self.debouncer.admit(code.raw, frame.monotonic):
                events.append(self.handle(code))
        return events

    def handle(self, code: Code) -> dict[str, object]:
        decision = self.policy.decide(code.raw)
        if decision.accepted and self.health.tamper and self._tamper_lockout:
            decision = _denied(decision)
        direction = self.policy.settings.direction
        fields = event_fields(decision, code, self._settings.share, direction)
        # The use (one-time pass, passage) goes with the row of a final accept, in its transaction.
        recorded = self._persist(fields, decision.use if decision.accepted else None)
        if recorded is None and decision.accepted:
            refused = self._unrecorded_accept(decision.use)
            if refused is not None:
                decision = _denied(decision, refused)
                fields = event_fields(decision, code, self._settings.share, direction)
        event = recorded or fields
        self.feedback.show(decision)
        self.health.scans += 1
        self._notifier.notify()
        subject = event.get("subject")
        if decision.accepted and isinstance(subject, str) and subject:
            self._notifier.tag_scanned(subject)
        self._notifier.decided(event)
        if self._on_event is not None:
            self._on_event(event)
        return event

    def _unrecorded_accept(self, use: PendingUse | None) -> Reason | None:
        """An accept whose row could not be written: the reason it becomes a deny, or None if it stands."""
        if self._settings.deny_unpersisted:
            return Reason.POLICY_MODE  # audit first: no entry that could not be recorded
        if use is None:
            return None
        journal = self._journal
        try:
            if journal is None:
                raise JournalError("journal is not open")
            journal.record_use(use)  # the outbox was full, the file still takes the use
            return None
        except JournalError as exc:
            log.error("use not recorded: %s", exc)
        # A single use that cannot be recorded cannot be guaranteed; a passage alone fails open.
        return Reason.RULE_FAILED if use.one_time else None

    def _persist(self, fields: dict[str, object], use: PendingUse | None) -> dict[str, object] | None:
        """The journaled event, or None when it could not be recorded (storage fault or journal full)."""
        journal = self._journal or self._reopen_journal()
        try:
            if journal is None:
                raise JournalError("journal is not open")
            event = journal.record_entry(fields, use)
        except JournalError as exc:
            self._storage_fault(exc)
            return None
        if self.health.storage == "fault":
            self._alert("storage_recovered", {"unpersisted": self.health.unpersisted})
        self.health.storage = "ok" if event is not None else "full"
        self._show_fault()
        return event

    def _storage_fault(self, exc: JournalError) -> None:
        """The door keeps deciding; the shortfall is counted, shown in `state` and alerted once."""
        self.health.unpersisted += 1
        log.error("decision not persisted (%s); %d unpersisted so far", exc, self.health.unpersisted)
        if self.health.storage != "fault" and self._on_storage_fault is not None:
            # The journal is what failed, so this alert can only go out from memory, best effort.
            self._on_storage_fault("storage_fault", {"error": str(exc)[:200]})
        self.health.storage = "fault"
        self._show_fault()

    def _show_fault(self) -> None:
        """The fault LED is on while the camera is down or a decision could not be recorded."""
        faulty = self.health.camera == "fault" or self.health.storage != "ok"
        if faulty != self._fault_shown:
            self._fault_shown = faulty
            self.feedback.fault(faulty)

    def _reopen_journal(self) -> EntryJournal | None:
        now = time.monotonic()
        if now < self._next_reopen:
            return None
        try:
            self._journal = self._open_journal()
        except (JournalError, ConfigError) as exc:  # a file swapped in at run time is a storage fault here
            self._next_reopen = now + JOURNAL_REOPEN_S
            log.error("journal cannot be opened: %s", exc)
            return None
        return self._journal

    def _journal_tamper_changes(self) -> None:
        while not self._tamper_changes.empty():
            opened = self._tamper_changes.get()
            if opened != self.health.tamper:
                self.health.tamper = opened
                log.warning("tamper switch %s", "OPEN" if opened else "closed again")
                self._alert("tamper" if opened else "tamper_cleared", {"lockout": self._tamper_lockout})

    def _alert(self, kind: str, detail: dict[str, object]) -> None:
        """Journal an alert; when the journal cannot take it, send it from memory rather than drop it."""
        journal = self._journal or self._reopen_journal()
        try:
            if journal is None:
                raise JournalError("journal is not open")
            journal.record_alert(kind, detail)
            self._notifier.notify()
        except JournalError as exc:
            log.error("alert %s not persisted: %s", kind, exc)
            if self._on_storage_fault is not None:
                self._on_storage_fault(kind, detail)

    def _camera_fault(self, exc: CameraError) -> None:
        log.error("camera fault (%s): %s", type(exc).__name__, exc)
        if self.health.camera != "fault":
            self.health.camera = "fault"
            self._show_fault()
            self._alert("camera_fault", {"error": type(exc).__name__, "detail": str(exc)[:200]})

    def _camera_ok(self) -> None:
        was_faulty = self.health.camera == "fault"
        self.health.camera = "ok"
        if was_faulty:
            self._show_fault()
            self._alert("camera_recovered", {})


def _denied(decision: Decision, reason: Reason = Reason.POLICY_MODE) -> Decision:
    """The same credential turned away by a device-wide rule (tamper lockout, audit-first storage fault, a
    one-time use that cannot be recorded); the deny carries no use, so nothing is used up."""
    return Decision.deny(reason, decision.credential, policy_version=decision.policy_version,
                         clock_synced=decision.clock_synced)


def event_fields(decision: Decision, code: Code, share: tuple[str, ...], direction: str = "none",
                 ) -> dict[str, object]:
    """The decision as event fields; personal details only where ``[privacy] share`` names them.

    ``direction`` ("in"/"out") is carried when the door has one: peer doors of the site learn passages from it.
    """
    cred = decision.credential
    fields: dict[str, Any] = {
        "decision": decision.verdict.value,
        "reason": decision.reason.value,
        "credential_type": cred.type,
        "subject": cred.subject,
        "policy_version": decision.policy_version,
        "clock_synced": decision.clock_synced,
    }
    if direction in ("in", "out"):
        fields["direction"] = direction
    for name in SHAREABLE_DETAILS:
        if name in share and name in cred.details:
            fields[name] = cred.details[name]
    if "raw_payload" in share:
        fields["payload_b64"] = base64.b64encode(code.raw).decode("ascii")
    return fields
