#!/usr/bin/env bash
# The reliability campaign's long variants (issue 13, scenarios 1-11): real door processes, mosquitto and the
# collector under injected faults, then one table from the history checker. Exits non-zero when a scenario
# fails or anything decided was lost.  Usage: scripts/soak.sh [extra pytest args, e.g. -k kills]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
table="$(mktemp /tmp/entryscan-soak.XXXXXX)"
trap 'rm -f "$table"' EXIT
started=$(date +%s)
status=0
ENTRYSCAN_SOAK_TABLE="$table" "$PY" -m pytest -q -m soak tests/reliability -p no:cacheprovider "$@" || status=$?
"$PY" - "$table" "$(( $(date +%s) - started ))" <<'PYEOF' || status=1
import json, re, sys
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
cols = [("scenario", "scenario"), ("faults", "faults injected"), ("decisions", "decisions"),
        ("stored", "stored"), ("duplicates_removed", "duplicates removed"), ("lost", "lost"),
        ("unrecorded", "not journaled (shown)")]
print()
print("| " + " | ".join(title for _, title in cols) + " |")
print("|" + "|".join("---" for _ in cols) + "|")
for r in sorted(rows, key=lambda r: (int(re.match(r"\d+", r["scenario"])[0]), r["scenario"])):
    print("| " + " | ".join(str(r[key]) for key, _ in cols) + " |")
total_lost = sum(r["lost"] for r in rows)
print(f"\n{len(rows)} scenarios, {sum(r['decisions'] for r in rows)} decisions, {total_lost} lost,"
      f" {sum(r['problems'] for r in rows)} history problems, {sys.argv[2]} s")
sys.exit(1 if total_lost or any(r["problems"] for r in rows) or not rows else 0)
PYEOF
exit "$status"
