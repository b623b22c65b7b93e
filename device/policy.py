"""Turn one decoded payload into a Decision.

The policy owns the rules that apply to every credential type (mode, time,
scope); each verifier only parses and authenticates. No exception escapes
``decide``: a parser bug becomes a ``malformed`` deny with a logged type name
and never the payload itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from device.config import PolicyMode
from device.credentials.base import CredentialVerifier, Pseudonymizer, Verified, VerifyContext
from device.errors import CredentialError
from device.model import CredentialSummary, Decision, Reason
from device.ports import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PolicySettings:
    mode: PolicyMode
    site: str
    door: str
    max_payload_bytes: int
    require_synced_clock: bool = True
    version: str = "1"


class Policy:
    """Decides with the configured mode over an ordered list of verifiers."""

    def __init__(
        self,
        settings: PolicySettings,
        verifiers: Sequence[CredentialVerifier],
        clock: Clock,
        pseudonymize: Pseudonymizer,
    ) -> None:
        self.settings = settings
        self._verifiers = tuple(verifiers)
        self._clock = clock
        self._pseudonymize = pseudonymize

    def decide(self, payload: bytes) -> Decision:
        synced = self._clock.synced()
        stamp = {"policy_version": self.settings.version, "clock_synced": synced}
        if len(payload) > self.settings.max_payload_bytes:
            return Decision.deny(Reason.TOO_LARGE, CredentialSummary(type="unknown"), **stamp)
        verifier = next((v for v in self._verifiers if v.matches(payload)), None)
        if verifier is None:
            if self.settings.mode is PolicyMode.OPEN:
                return Decision.accept(self._raw_summary(payload), **stamp)
            return Decision.deny(Reason.UNKNOWN_FORMAT, self._raw_summary(payload), **stamp)
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
            if self.settings.mode is PolicyMode.OPEN:  # a logging-only door lets everyone in
                return Decision.accept(self._summary(verifier.type, payload), **stamp)  # type: ignore[arg-type]
            return self._denied(exc.reason, verifier.type, payload, stamp)
        except Exception as exc:  # noqa: BLE001 - a parser bug must not reach the scan loop
            log.error("%s verifier failed: %s", verifier.type, type(exc).__name__)
            return self._denied(Reason.MALFORMED, verifier.type, payload, stamp)
        return self._apply_rules(verified, ctx, stamp)

    def _apply_rules(self, verified: Verified, ctx: VerifyContext, stamp: dict[str, object]) -> Decision:
        summary = verified.summary
        if self.settings.mode is PolicyMode.OPEN:
            return Decision.accept(summary, **stamp)  # type: ignore[arg-type]
        if verified.time_bound and self.settings.require_synced_clock and not ctx.clock_synced:
            return Decision.deny(Reason.CLOCK_UNTRUSTED, summary, **stamp)  # type: ignore[arg-type]
        if verified.not_before is not None and ctx.now < verified.not_before:
            return Decision.deny(Reason.NOT_YET_VALID, summary, **stamp)  # type: ignore[arg-type]
        if verified.not_after is not None and ctx.now >= verified.not_after:
            return Decision.deny(Reason.EXPIRED, summary, **stamp)  # type: ignore[arg-type]
        if (verified.sites and ctx.site not in verified.sites) or (verified.doors and ctx.door not in verified.doors):
            return Decision.deny(Reason.WRONG_SITE, summary, **stamp)  # type: ignore[arg-type]
        return Decision.accept(summary, **stamp)  # type: ignore[arg-type]

    def _denied(self, reason: str, kind: str, payload: bytes, stamp: dict[str, object]) -> Decision:
        try:
            code = Reason(reason)
        except ValueError:
            code = Reason.MALFORMED
        return Decision.deny(code, self._summary(kind, payload), **stamp)  # type: ignore[arg-type]

    def _summary(self, kind: str, payload: bytes) -> CredentialSummary:
        return CredentialSummary(type=kind, subject=self._pseudonymize(kind, payload))

    def _raw_summary(self, payload: bytes) -> CredentialSummary:
        return self._summary("unknown", payload)
