"""The campaign's history checker: what every door decided against what the collector stored.

A door's decisions come from two places, because rows leave the journal once confirmed:

* its journal (``meta.next_seq``: seqs 1..next_seq-1 were issued, each in the same transaction as its row;
  ``identity.incarnation``; the rows still there), read after the door stopped;
* what it showed: the ``[door] #seq DECISION reason (type)`` lines of ``entryscan run --simulate``
  (``#unjournaled`` when the journal could not take the decision: counted, never expected in the store).

The collector's side is its SQLite database read through ``Store`` (``entries`` view, ``receipts``).

Checks: every issued seq of every door is stored exactly once (lost otherwise); seqs are gap-free per device and
incarnation; nothing is stored that no door decided (unknown incarnation, seq never issued, a different decision
than the one shown, another event_id than the journal's); every decision shown at the door is stored.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from entryscan.collector.store import Store

SHOWN = re.compile(r"\[door\] #(\d+|unjournaled) (ACCEPT|DENY) (\S+) \(")


@dataclass(frozen=True)
class Shown:
    seq: int | None  # None: shown but not journaled
    decision: str
    reason: str


@dataclass
class DoorHistory:
    site: str
    device: str
    incarnation: str
    issued: int  # seqs 1..issued were journaled
    shown: list[Shown]
    journal: dict[int, dict[str, Any]]  # seq -> row still in the journal (not yet confirmed)


@dataclass
class Verdict:
    decisions: int = 0  # journaled decisions (issued seqs) over all doors
    shown: int = 0
    unrecorded: int = 0  # shown as "#unjournaled": the journal refused them (full, failing disk)
    stored: int = 0
    received: int = 0  # entry messages the collector committed, duplicates included
    lost: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def duplicates_removed(self) -> int:
        return max(0, self.received - self.stored)

    def assert_ok(self) -> None:
        assert not self.problems and self.lost == 0, f"{self.summary()}\n" + "\n".join(self.problems[:30])

    def summary(self) -> str:
        return (f"decisions {self.decisions}, shown {self.shown}, unrecorded {self.unrecorded}, stored {self.stored},"
                f" duplicates removed {self.duplicates_removed}, lost {self.lost}, problems {len(self.problems)}")


def parse_shown(lines: list[str]) -> list[Shown]:
    out = []
    for line in lines:
        m = SHOWN.search(line)
        if m:
            seq = None if m[1] == "unjournaled" else int(m[1])
            out.append(Shown(seq, m[2].lower(), m[3]))
    return out


def door_history(journal: Path, output: list[str], site: str = "hq", device: str = "door-1") -> DoorHistory:
    """Read a stopped door's journal (read-only) and its console lines."""
    import json

    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        incarnation = db.execute("SELECT value FROM identity WHERE key = 'incarnation'").fetchone()[0]
        issued = int(db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0]) - 1
        rows = db.execute("SELECT seq, payload FROM outbox WHERE kind = 'entry' AND incarnation = ?",
                          (incarnation,)).fetchall()
    finally:
        db.close()
    return DoorHistory(site, device, str(incarnation), issued, parse_shown(output),
                       {int(seq): json.loads(payload) for seq, payload in rows})


def stored(db: Path) -> tuple[list[dict[str, Any]], int]:
    """The collector's entries and how many entry messages it committed (duplicates included)."""
    store = Store(db)
    try:
        return store.entries(), store.receipts().get("entry", 0)
    finally:
        store.close()


def check(doors: list[DoorHistory], db: Path) -> Verdict:
    rows, received = stored(db)
    verdict = Verdict(stored=len(rows), received=received)
    by_stream: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        by_stream.setdefault((r["site"], r["device"], r["incarnation"]), []).append(r)
    known = {(d.site, d.device, d.incarnation) for d in doors}
    for key, items in by_stream.items():
        if key not in known:
            verdict.problems.append(f"{len(items)} stored entries of {key} that no door decided")
    for door in doors:
        _check_door(door, by_stream.get((door.site, door.device, door.incarnation), []), verdict)
    return verdict


def _check_door(door: DoorHistory, items: list[dict[str, Any]], verdict: Verdict) -> None:
    name = f"{door.site}/{door.device}"
    verdict.decisions += door.issued
    verdict.shown += len(door.shown)
    verdict.unrecorded += sum(1 for s in door.shown if s.seq is None)
    counts = Counter(int(r["seq"]) for r in items)
    for seq, n in counts.items():
        if n > 1:
            verdict.problems.append(f"{name} #{seq} stored {n} times")
        if not 1 <= seq <= door.issued:
            verdict.problems.append(f"{name} #{seq} stored but never issued (issued 1..{door.issued})")
    missing = [s for s in range(1, door.issued + 1) if s not in counts]
    verdict.lost += len(missing)
    if missing:
        verdict.problems.append(f"{name}: {len(missing)} decisions not stored, first {missing[:10]}"
                                f" ({sum(1 for s in missing if s in door.journal)} still in the journal)")
    by_seq = {int(r["seq"]): r for r in items}
    for s in door.shown:
        if s.seq is None:
            continue
        row = by_seq.get(s.seq)
        if row is None:
            continue  # counted as lost above (a shown seq is an issued one)
        if (row["decision"], row["reason"]) != (s.decision, s.reason):
            verdict.problems.append(f"{name} #{s.seq} shown {s.decision} {s.reason}, stored"
                                    f" {row['decision']} {row['reason']}")
    for seq, event in door.journal.items():
        row = by_seq.get(seq)
        if row is not None and row["event_id"] != event["event_id"]:
            verdict.problems.append(f"{name} #{seq} stored with another event_id than the journal's")
    if any(s.seq is not None and s.seq > door.issued for s in door.shown):
        verdict.problems.append(f"{name} showed a seq above the journal's counter")


def settled(journal: Path, db: Path) -> bool:
    """True once every issued seq of this door is stored and its journal holds no entry row (all confirmed)."""
    try:
        door = door_history(journal, [])
        rows, _ = stored(db)
    except (sqlite3.Error, TypeError):
        return False
    seqs = {int(r["seq"]) for r in rows if r["incarnation"] == door.incarnation}
    return not door.journal and seqs >= set(range(1, door.issued + 1))
