"""The collector's delivery confirmations, as the door reads them.

The collector publishes, retained on ``<prefix>/<site>/<device>/confirm``, what it has committed for the device:
``{"incarnation": HEX, "through_seq": N, "seqs": [...], "alert_ids": [...]}``. Every seq up to ``through_seq`` and
every listed seq and alert id may leave the journal. The message is untrusted input: it is bounded, its types are
checked, and anything odd is ignored (the rows stay and are sent again; nothing is lost by ignoring).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from entryscan.device.errors import JournalError

if TYPE_CHECKING:
    from entryscan.device.delivery.journal import Journal

MAX_CONFIRM_BYTES = 64 * 1024
MAX_LISTED = 1000
MAX_ALERT_IDS = 100
_HEX = re.compile(r"[0-9a-f]{32}")
_ALERT_ID = re.compile(r"[0-9a-f-]{36}")


@dataclass(frozen=True)
class Confirmation:
    incarnation: str
    through_seq: int
    seqs: tuple[int, ...]
    alert_ids: tuple[str, ...]


class PendingConfirmation:
    """The latest confirmation received (in paho's callback), applied to the journal between loop calls."""

    def __init__(self) -> None:
        self._latest: Confirmation | None = None

    def offer(self, confirmation: Confirmation) -> None:
        self._latest = confirmation  # a newer one supersedes: each names everything committed so far

    def apply(self, journal: Journal) -> int:
        """Rows and alerts removed; a confirmation the journal could not take is kept for the next try."""
        confirmation, self._latest = self._latest, None
        if confirmation is None:
            return 0
        try:
            return journal.confirm(confirmation.incarnation, confirmation.through_seq, confirmation.seqs,
                                   confirmation.alert_ids)
        except JournalError:
            if self._latest is None:  # not yet replaced by a newer one
                self._latest = confirmation
            raise


def parse_confirmation(payload: bytes) -> Confirmation | None:
    """The confirmation, or None for anything that is not a well-formed one."""
    if not payload or len(payload) > MAX_CONFIRM_BYTES:
        return None
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    incarnation, through, seqs, alerts = (doc.get(k) for k in ("incarnation", "through_seq", "seqs", "alert_ids"))
    seqs = [] if seqs is None else seqs
    alerts = [] if alerts is None else alerts
    if not (isinstance(incarnation, str) and (incarnation == "" or _HEX.fullmatch(incarnation))):
        return None
    if not (isinstance(through, int) and _is_seq(through) and isinstance(seqs, list) and isinstance(alerts, list)):
        return None
    if len(seqs) > MAX_LISTED or len(alerts) > MAX_ALERT_IDS:
        return None
    if not all(_is_seq(s) for s in seqs) or not all(isinstance(a, str) and _ALERT_ID.fullmatch(a) for a in alerts):
        return None
    return Confirmation(incarnation, through, tuple(int(s) for s in seqs), tuple(str(a) for a in alerts))


def _is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62
