"""``entryscan journal --pending`` (issue 18, "The technician's tools"): before, it listed only the rows due now,
while the summary's backlog also counted rows sent and awaiting the collector's confirmation: a door with 5 such
rows answered an empty list and {"backlog": 5}. Now every undelivered row is listed with its state."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from entryscan.device.access.clock import SystemClock
from entryscan.device.config.settings import load_config
from entryscan.device.delivery.journal import Journal
from tests.cli.test_cli import door_config

FIELDS = {"decision": "accept", "reason": "ok", "credential_type": "badge", "subject": "ab", "policy_version": "1",
          "clock_synced": True}


def entryscan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "entryscan.device.cli.main", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_every_undelivered_row_is_listed_with_its_state(tmp_path: Path) -> None:
    config = door_config(tmp_path)
    cfg = load_config(config)
    journal = Journal(cfg.journal.path, device="door-1", site="hq", door="main", max_rows=100, clock=SystemClock())
    for _ in range(7):
        journal.record_entry(FIELDS)
    rows = journal.pending(7)
    journal.mark_sent([r.row_id for r in rows[:5]], 60, 600)  # the broker took 5; no confirmation yet
    journal.mark_sent([rows[0].row_id], 60, 600)  # ... the first of them twice
    journal.mark_rejected(rows[5].row_id, "0x87 Not authorized", 60)
    journal.close()
    out = entryscan("journal", "--config", str(config), "--pending")
    assert out.returncode == 0, out.stderr
    listed = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["state"] for r in listed] == ["awaiting_confirmation"] * 5 + ["refused_by_broker", "not_yet_sent"]
    assert [r["sends"] for r in listed[:5]] == [2, 1, 1, 1, 1]
    since = dt.datetime.fromisoformat(str(listed[0]["sent_since"]))  # 3.11 reads the Z
    assert abs((dt.datetime.now(dt.UTC) - since).total_seconds()) < 60
    assert listed[5]["attempts"] == 1 and listed[5]["last_error"] == "0x87 Not authorized"
    assert [r["due"] for r in listed] == [False] * 6 + [True]
    assert all("payload" not in r and "subject" not in r for r in listed)
    summary = json.loads(out.stderr.strip().splitlines()[-1])
    assert summary == {"backlog": 7, "refused": 0, "not_yet_sent": 1, "refused_by_broker": 1,
                       "awaiting_confirmation": 5}
    due = entryscan("journal", "--config", str(config), "--due")
    assert [json.loads(line)["state"] for line in due.stdout.splitlines()] == ["not_yet_sent"]


def test_help_says_what_the_states_are() -> None:
    out = entryscan("journal", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for word in ("not_yet_sent", "refused_by_broker", "awaiting_confirmation", "sent_since", "--pending", "--due"):
        assert word in text
