#!/usr/bin/env bash
# mypy --strict over the installed namespace. The folders device/, collector/ and provisioning/ become
# entryscan.device/... only when installed (setup.py), so mypy reads them through a link tree that has the
# installed shape: .typecheck/entryscan/<folder> -> ../../<folder>.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .typecheck/entryscan
for top in device collector provisioning; do ln -sfn "../../$top" ".typecheck/entryscan/$top"; done
exec .venv/bin/mypy "$@"
