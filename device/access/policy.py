"""Turn one decoded payload into a Decision.

The policy owns the rules that apply to every credential type; each verifier
only parses and authenticates. The rules, in order:

1. size (``too_large``), format (``unknown_format``);
2. mode: the credential type must be admitted by ``[policy] mode``
   (``ADMITTED``), else ``policy_mode`` -- checked before any signature work;
3. verification by the type's verifier (its reason code on failure);
4. clock trust: a time-bound credential on an unsynchronised clock is
   ``clock_untrusted`` (unless ``require_synced_clock = false``), then
   ``not_yet_valid`` / ``expired``;
5. scope (``wrong_site``); lockdown admits only role ``admin``; CCCD is identity
   capture, accepted only as a registered visitor (``not_allowed`` otherwise) or
   as a logged visitor, and only in ``visitors`` mode;
6. the signed lists (``revoked``, ``not_allowed``, stale fail-closed);
7. reuse: one-time passes (``already_used``) and anti-passback (``passback``),
   only read here: an accept carries the use as ``Decision.use``, and the scan
   loop records it with the journal row once the decision is final (so
   ``entryscan check``, which records nothing, is always a dry run).

No exception escapes ``decide``: a parser bug becomes a ``malformed`` deny with
a logged type name and never the payload itself; any other failure a
``rule_failed`` deny.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from entryscan.device.access.credentials.base import (
    CredentialVerifier,
    Pseudonymizer,
    Verified,
    VerifyContext,
)
from entryscan.device.access.reuse import ReuseStore
from entryscan.device.config.settings import PolicyMode
from entryscan.device.errors import CredentialError, JournalError
from entryscan.device.model import CredentialSummary, Decision, PendingUse, Reason, Stamp
from entryscan.device.ports import Clock

log = logging.getLogger(__name__)

ALL_TYPES = frozenset({"badge", "signed_pass", "eu_dcc", "shc", "cccd"})
ADMITTED: Mapping[PolicyMode, frozenset[str]] = {
    PolicyMode.ALLOWLIST: frozenset({"badge"}),
    PolicyMode.CREDENTIALS: frozenset({"signed_pass", "eu_dcc", "shc"}),
    PolicyMode.HEALTH_PASS: frozenset({"eu_dcc", "shc"}),
    PolicyMode.VISITORS: frozenset({"cccd", "signed_pass"}),
    PolicyMode.LOCKDOWN: frozenset({"signed_pass"}),  # and only with role "admin"
    PolicyMode.OPEN: ALL_TYPES,
}
ADMIN_ROLE = "admin"


class ListChecker(Protocol):
    def check(self, verified: Verified) -> Reason | None: ...

    def versions(self) -> dict[str, int]: ...

    def issued(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class PolicySettings:
    mode: PolicyMode
    site: str
    door: str
    max_payload_bytes: int
    require_synced_clock: bool = True
    version: str = "1"
    visitors: Literal["none", "registered", "log"] = "none"
    direction: Literal["none", "in", "out"] = "none"
    passback_window_s: float = 3600.0


class Policy:
    """Decides with the configured mode over an ordered list of verifiers.

    ``lists`` (entryscan.device.access.lists.ListStore) and ``reuse`` (entryscan.device.access.reuse.ReuseStore)
    are optional: without them no list applies and one-time/anti-passback
    state is not kept.
    """

    def __init__(
        self,
        settings: PolicySettings,
        verifiers: Sequence[CredentialVerifier],
        clock: Clock,
        pseudonymize: Pseudonymizer,
        *,
        lists: ListChecker | None = None,
        reuse: ReuseStore | None = None,
    ) -> None:
        self.settings = settings
        self._verifiers = tuple(verifiers)
        self._clock = clock
        self._pseudonymize = pseudonymize
        self.lists = lists
        self.reuse = reuse

    def decide(self, payload: bytes) -> Decision:
        """The decision for one payload. Nothing is written: an accept that uses up a one-time pass or records a
        passage carries it in ``Decision.use``, for the journal to record with the final decision's row."""
        synced = False
        try:
            synced = self._clock.synced()
            return self._decide(payload, synced)
        except Exception as exc:  # noqa: BLE001 - nothing may reach the scan loop
            log.error("policy failed: %s", type(exc).__name__)
            return Decision.deny(Reason.RULE_FAILED, CredentialSummary(type="unknown"),
                                 policy_version=self.settings.version, clock_synced=synced)

    def _decide(self, payload: bytes, synced: bool) -> Decision:
        stamp = Stamp(policy_version=self.settings.version, clock_synced=synced)
        mode = self.settings.mode
        if len(payload) > self.settings.max_payload_bytes:
            return Decision.deny(Reason.TOO_LARGE, CredentialSummary(type="unknown"), **stamp)
        verifier = next((v for v in self._verifiers if v.matches(payload)), None)
        if verifier is None:
            if mode is PolicyMode.OPEN:
                return Decision.accept(self._raw_summary(payload), **stamp)
            return Decision.deny(Reason.UNKNOWN_FORMAT, self._raw_summary(payload), **stamp)
        if verifier.type not in ADMITTED[mode]:
            return self._denied(Reason.POLICY_MODE, verifier.type, payload, stamp)
        ctx = VerifyContext(
            now=self._clock.now(),
            clock_synced=synced,
            site=self.settings.site,
            door=self.settings.door,
            pseudonymize=self._pseudonymize,
        )
        try:
            verified = verifier.verify(payload, ctx)
        except CredentialError as exc:
            if mode is PolicyMode.OPEN:  # a logging-only door lets everyone in
                return Decision.accept(self._summary(verifier.type, payload), **stamp)
            return self._denied(exc.reason, verifier.type, payload, stamp)
        except Exception as exc:  # noqa: BLE001 - a parser bug must not reach the scan loop
            log.error("%s verifier failed: %s", verifier.type, type(exc).__name__)
            return self._denied(Reason.MALFORMED, verifier.type, payload, stamp)
        if mode is PolicyMode.OPEN:
            return Decision.accept(verified.summary, **stamp)
        reason = self._rules(verified, ctx)
        use = None
        if reason is None:
            reason, use = self._reuse(verified, ctx)
        if reason is not None:
            return Decision.deny(reason, verified.summary, **stamp)
        return Decision.accept(verified.summary, use=use, **stamp)

    def _rules(self, verified: Verified, ctx: VerifyContext) -> Reason | None:
        """Every rule that only reads: time, scope, mode details, lists."""
        summary = verified.summary
        if verified.time_bound and self.settings.require_synced_clock and not ctx.clock_synced:
            return Reason.CLOCK_UNTRUSTED
        if verified.not_before is not None and ctx.now < verified.not_before:
            return Reason.NOT_YET_VALID
        if verified.not_after is not None and ctx.now >= verified.not_after:
            return Reason.EXPIRED
        if (verified.sites and ctx.site not in verified.sites) or (verified.doors and ctx.door not in verified.doors):
            return Reason.WRONG_SITE
        mode = self.settings.mode
        if mode is PolicyMode.LOCKDOWN and summary.role != ADMIN_ROLE:
            return Reason.POLICY_MODE
        if verified.extra.get("proof") is False:  # identity capture (CCCD), never proof of a right
            if mode is not PolicyMode.VISITORS or self.settings.visitors == "none":
                return Reason.POLICY_MODE
            if self.settings.visitors == "registered" and verified.extra.get("registered") is not True:
                return Reason.NOT_ALLOWED
        if self.lists is not None:
            return self.lists.check(verified)
        return None

    def _reuse(self, verified: Verified, ctx: VerifyContext) -> tuple[Reason | None, PendingUse | None]:
        """(deny reason or None, what an accept would record)."""
        direction = self.settings.direction
        if self.reuse is None or not (verified.one_time or direction != "none"):
            if verified.one_time:
                log.warning("one-time credential accepted without a reuse store")
            return None, None
        summary = verified.summary
        use = self.reuse.pending(
            credential_type=summary.type, token=summary.token_id, subject=summary.subject,
            one_time=verified.one_time, valid_until=verified.not_after, direction=direction,
            window_s=self.settings.passback_window_s, now=ctx.now, synced=ctx.clock_synced,
        )
        if use is None:
            return None, None
        try:
            return self.reuse.refusal(use), use
        except JournalError as exc:
            log.error("reuse records cannot be read: %s", exc)
            # A single use that cannot be checked cannot be guaranteed: deny. Anti-passback
            # alone fails open so a storage fault does not lock everyone out.
            return (Reason.RULE_FAILED, None) if verified.one_time else (None, use)

    def _denied(self, reason: str, kind: str, payload: bytes, stamp: Stamp) -> Decision:
        try:
            code = Reason(reason)
        except ValueError:
            code = Reason.MALFORMED
        return Decision.deny(code, self._summary(kind, payload), **stamp)

    def _summary(self, kind: str, payload: bytes) -> CredentialSummary:
        return CredentialSummary(type=kind, subject=self._pseudonymize(kind, payload))

    def _raw_summary(self, payload: bytes) -> CredentialSummary:
        return self._summary("unknown", payload)
