#!/usr/bin/env bash
# Builds the Studio Monitor one-folder bundle for the platform it runs on, in one command:
#   packaging/build.sh              build, then run the bundle's --self-test
#   packaging/build.sh --no-test    build only
# It sets up .venv if needed (scripts/bootstrap.sh), installs PyInstaller into it through
# the `packaging` extra of pyproject.toml, builds with packaging/studio_monitor.spec, and
# prints the bundle's size and the time taken.
# Output: dist/StudioMonitor/ (Linux, Windows), dist/Studio Monitor.app (macOS).
# On Windows run it from Git Bash (or follow the commands in packaging/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

run_test=1
for arg in "$@"; do
  case "$arg" in
    --no-test) run_test=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

start=$(date +%s)
case "$(uname -s)" in
  MINGW*|MSYS*|CYGWIN*)
    # Windows (Git Bash): no system packages to install, and the venv keeps python in Scripts/.
    [ -x .venv/Scripts/python.exe ] || py -3 -m venv .venv
    python_bin=.venv/Scripts/python.exe ;;
  *)
    scripts/bootstrap.sh app
    python_bin=.venv/bin/python ;;
esac

# Install the packaging extra once per pyproject.toml version (like bootstrap.sh does).
stamp=".venv/.stamp-packaging"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "build: installing PyInstaller (the packaging extra)"
  "$python_bin" -m pip install -q -e ".[packaging]"
  echo "$want" > "$stamp"
fi

version="$("$python_bin" -c 'import studio_monitor; print(studio_monitor.__version__)')"
echo "build: Studio Monitor $version with $("$python_bin" -m PyInstaller --version 2>/dev/null | head -1 | sed 's/^/PyInstaller /')"

# The translations (.ts -> .qm) the spec puts in the bundle; bootstrap.sh does it too, but
# not on Windows, where it is not run.
"$python_bin" -m studio_monitor.ui.i18n.tools build

build_start=$(date +%s)
"$python_bin" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$root/dist" --workpath "$root/build/pyinstaller" \
  packaging/studio_monitor.spec
build_end=$(date +%s)

case "$(uname -s)" in
  Darwin) bundle="dist/Studio Monitor.app"; exe="$bundle/Contents/MacOS/StudioMonitor" ;;
  MINGW*|MSYS*|CYGWIN*) bundle="dist/StudioMonitor"; exe="$bundle/studio-monitor.exe" ;;
  *) bundle="dist/StudioMonitor"; exe="$bundle/StudioMonitor" ;;
esac

# Unpacked size: the bytes of every file (what an installer copies), in MB and MiB.
"$python_bin" - "$bundle" <<'PY'
import os, sys
total = files = 0
for root, _dirs, names in os.walk(sys.argv[1]):
    for name in names:
        path = os.path.join(root, name)
        if not os.path.islink(path):
            total += os.path.getsize(path)
            files += 1
print(f"build: {sys.argv[1]}: {total / 1e6:.1f} MB ({total / 2**20:.1f} MiB) unpacked, {files} files")
PY
echo "build: PyInstaller took $((build_end - build_start)) s (set-up included: $((build_end - start)) s)"

if [ "$run_test" = 1 ]; then
  echo "build: running the bundle's self-test"
  test_start=$(date +%s)
  if "$exe" --self-test; then
    echo "build: self-test passed in $(( $(date +%s) - test_start )) s"
  else
    code=$?
    echo "build: self-test FAILED (exit $code); see the reason above" >&2
    exit "$code"
  fi
fi
