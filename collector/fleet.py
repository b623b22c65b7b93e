"""The fleet view: one row per door from the collector's store, with what an operator must act on.

``seq`` is gap-free per device by contract, so any number missing between a device's
lowest and highest received seq is a decision that has not arrived (still in that
device's journal, or lost): the compliance check the district office needs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

_QUERY = """
SELECT d.site, d.device,
       (SELECT status FROM status s WHERE s.site = d.site AND s.device = d.device) AS status,
       COUNT(e.event_id), SUM(e.decision = 'accept'), SUM(e.decision = 'deny'),
       MIN(e.seq), MAX(e.seq), MAX(e.ts), SUM(e.clock_synced = 0),
       (SELECT COUNT(*) FROM alerts a WHERE a.site = d.site AND a.device = d.device),
       (SELECT kind FROM alerts a WHERE a.site = d.site AND a.device = d.device ORDER BY a.ts DESC LIMIT 1)
FROM (SELECT site, device FROM entries UNION SELECT site, device FROM status
      UNION SELECT site, device FROM alerts) d
LEFT JOIN entries e ON e.site = d.site AND e.device = d.device
GROUP BY d.site, d.device ORDER BY d.site, d.device
"""


@dataclass(frozen=True)
class DoorRow:
    site: str
    device: str
    status: str
    entries: int
    accepts: int
    denies: int
    first_seq: int | None
    last_seq: int | None
    last_entry: str
    unsynced: int
    alerts: int
    last_alert: str

    @property
    def missing(self) -> int:
        """Decisions between the first and last seq received that never arrived."""
        if self.first_seq is None or self.last_seq is None:
            return 0
        return self.last_seq - self.first_seq + 1 - self.entries


def fleet(db_path: Path) -> list[DoorRow]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute(_QUERY).fetchall()
    finally:
        db.close()
    return [DoorRow(site, device, status or "unknown", n, acc or 0, den or 0, lo, hi, last or "", uns or 0,
                    alerts, last_alert or "")
            for site, device, status, n, acc, den, lo, hi, last, uns, alerts, last_alert in rows]


def render(rows: list[DoorRow]) -> str:
    head = f"{'door':<24} {'status':<8} {'entries':>7} {'accept':>6} {'deny':>5} {'missing':>7} " \
           f"{'unsynced':>8} {'alerts':>6}  last entry / last alert"
    lines = [head]
    for r in rows:
        lines.append(f"{r.site + '/' + r.device:<24} {r.status:<8} {r.entries:>7} {r.accepts:>6} {r.denies:>5} "
                     f"{r.missing:>7} {r.unsynced:>8} {r.alerts:>6}  {r.last_entry or '-'} / {r.last_alert or '-'}")
    return "\n".join(lines)
