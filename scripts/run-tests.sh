#!/usr/bin/env bash
# Sets up (first time only) and runs every check CI runs: ruff, ruff format, mypy --strict,
# and the test suite (Qt offscreen; the screenshot test starts its own Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
echo "== ruff check";        .venv/bin/ruff check studio_monitor tests benchmarks
echo "== ruff format";       .venv/bin/ruff format --check studio_monitor tests benchmarks
echo "== mypy --strict";     .venv/bin/mypy --strict studio_monitor
echo "== pytest";            .venv/bin/python -m pytest -p no:cacheprovider "$@"
