#!/usr/bin/env bash
# The office's gettext catalogs (collector/web/locale): extract the strings from code and templates,
# merge them into each language's .po, and compile the .mo files the collector loads. Besides web/, the
# collector's own modules whose codes the pages name (violations, citizens) are extracted too.
#   scripts/i18n.sh extract   # after changing user-visible text: then translate the new msgids in both .po
#   scripts/i18n.sh compile   # what setup.sh runs (the wheel build compiles them too, see setup.py)
set -euo pipefail
cd "$(dirname "$0")/../collector/web"
ROOT="$(cd ../.. && pwd)"; PY="${PYTHON:-.venv/bin/python}"; [[ "$PY" = /* ]] || PY="$ROOT/$PY"
case "${1:-compile}" in
  extract)
    "$PY" -m babel.messages.frontend extract -F babel.cfg -k N_ --no-location --sort-output \
      --project entryscan -o locale/messages.pot . ../violations.py ../citizens.py 2>&1 | grep -v "^extracting\|^writing" || true
    for lang in vi en; do
      po="locale/$lang/LC_MESSAGES/messages.po"
      if [ -f "$po" ]; then
        "$PY" -m babel.messages.frontend update -i locale/messages.pot -d locale -l "$lang" --no-fuzzy-matching --ignore-obsolete >/dev/null
      else
        "$PY" -m babel.messages.frontend init -i locale/messages.pot -d locale -l "$lang" >/dev/null
      fi
    done ;;
  compile)
    "$PY" -m babel.messages.frontend compile -d locale --statistics 2>&1 | grep -v "^compiling" || true ;;
  *) echo "usage: $0 extract|compile" >&2; exit 2 ;;
esac
