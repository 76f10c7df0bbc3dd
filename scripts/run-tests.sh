#!/usr/bin/env bash
# Sets up (first time only) and runs every check CI runs: ruff, ruff format, mypy --strict,
# and the test suite (Qt offscreen; the screenshot test starts its own Xvfb).
# The same on Linux, macOS and Windows (Git Bash): the release workflow runs it on all three.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
case "$(uname -s)" in
  MINGW*|MSYS*|CYGWIN*) py=.venv/Scripts/python.exe ;;
  *) py=.venv/bin/python ;;
esac
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
echo "== ruff check";        "$py" -m ruff check studio_monitor tests benchmarks
echo "== ruff format";       "$py" -m ruff format --check studio_monitor tests benchmarks
echo "== mypy --strict";     "$py" -m mypy --strict studio_monitor
# The code as Windows and macOS see it (their stdlib: no os.pwrite or termios on Windows...).
# The gate is the release workflow's Windows and macOS jobs, which run mypy there; here it is
# an early warning (landing does not run it yet, so it must not fail everyone's CI).
for platform in win32 darwin; do
  echo "== mypy --strict --platform $platform (warning only)"
  "$py" -m mypy --strict --platform "$platform" --cache-dir ".mypy_cache/$platform" studio_monitor \
    || echo "WARNING: mypy --strict --platform $platform fails: the $platform job of the release workflow will"
done
echo "== pytest"
# If pytest dies of a signal, say last which test and where (CI keeps only the output's ends).
crash_log="$(mktemp)"
export STUDIO_MONITOR_CRASH_LOG="$crash_log"
status=0
"$py" -m pytest -p no:cacheprovider "$@" || status=$?
if [ "$status" -ge 128 ]; then
  echo "== pytest died (exit $status)"
  # The stack without pytest's own frames, so the test's end stays in what CI keeps.
  grep -v -e '/_pytest/' -e '/pluggy/' -e '/pytest/__main__' -e '<frozen runpy>' "$crash_log" || true
fi
rm -f "$crash_log"
exit "$status"
