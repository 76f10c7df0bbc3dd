#!/usr/bin/env bash
# Sets up (first time only) and runs the Studio Monitor app with its embedded hub.
# Extra arguments go to `studio-monitor` (e.g. `--hub https://hub.studio.lan:8765`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh app
exec .venv/bin/studio-monitor "$@"
