#!/usr/bin/env bash
# Builds the Studio Monitor one-folder bundle for the platform it runs on, in one command:
#   packaging/build.sh              build, then run the bundle's --self-test
#   packaging/build.sh --no-test    build only
#   packaging/build.sh --release    build, self-test, then what is handed out (below)
# It sets up .venv if needed (scripts/bootstrap.sh), installs PyInstaller into it through
# the `packaging` extra of pyproject.toml, builds with packaging/studio_monitor.spec, and
# prints the bundle's size and the time taken.
# Output: dist/StudioMonitor/ (Linux, Windows), dist/Studio Monitor.app (macOS).
# With --release also (V is studio_monitor.__version__, ARCH is uname -m):
#   Linux    dist/StudioMonitor-V-linux-ARCH.tar.gz, whose unpacked copy is self-tested too
#   Windows  dist/StudioMonitor-V-setup.exe (packaging/windows/make_installer.sh, Inno Setup)
#   macOS    dist/StudioMonitor-V-macos-ARCH.dmg (packaging/macos/make_dmg.sh)
#   and dist/SHA256SUMS-<os>.txt, the SHA-256 of each.
# Signing happens when its secrets are in the environment (packaging/README.md, "Signing").
# .ci/run and the release workflow (.github/workflows/build-and-test.yml) both run
# `packaging/build.sh --release`; on Windows from Git Bash.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

run_test=1
release=0
for arg in "$@"; do
  case "$arg" in
    --no-test) run_test=0 ;;
    --release) release=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

if [ "$release" = 1 ] && [ "$run_test" = 0 ]; then
  echo "build.sh: --release runs the self-test; it cannot go with --no-test" >&2
  exit 2
fi

start=$(date +%s)
scripts/bootstrap.sh app
case "$(uname -s)" in
  MINGW*|MSYS*|CYGWIN*) os=windows; python_bin=.venv/Scripts/python.exe ;;
  Darwin) os=macos; python_bin=.venv/bin/python ;;
  *) os=linux; python_bin=.venv/bin/python ;;
esac

sha256() {  # prints "<hex>  <name>" like sha256sum, on every OS (Python is there anyway)
  "$python_bin" - "$@" <<'PY'
import hashlib, os, sys
for path in sys.argv[1:]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    print(f"{digest.hexdigest()}  {os.path.basename(path)}")
PY
}

# Install the packaging extra once per pyproject.toml version (like bootstrap.sh does).
stamp=".venv/.stamp-packaging"
want="$(sha256 pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "build: installing PyInstaller (the packaging extra)"
  "$python_bin" -m pip install -q -e ".[packaging]"
  echo "$want" > "$stamp"
fi

version="$("$python_bin" -c 'import studio_monitor; print(studio_monitor.__version__)')"
echo "build: Studio Monitor $version with $("$python_bin" -m PyInstaller --version 2>/dev/null | head -1 | sed 's/^/PyInstaller /')"

# The translations (.ts -> .qm) the spec puts in the bundle (bootstrap.sh did it too; again
# here so a build never packs stale ones).
"$python_bin" -m studio_monitor.ui.i18n.tools build

build_start=$(date +%s)
"$python_bin" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$root/dist" --workpath "$root/build/pyinstaller" \
  packaging/studio_monitor.spec
build_end=$(date +%s)

case "$os" in
  macos) bundle="dist/Studio Monitor.app"; exe="$bundle/Contents/MacOS/StudioMonitor" ;;
  windows) bundle="dist/StudioMonitor"; exe="$bundle/studio-monitor.exe" ;;
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

[ "$release" = 1 ] || exit 0

# --- what is handed out ---------------------------------------------------------------------
arch="$(uname -m)"
case "$os" in
  linux)
    artifact="dist/StudioMonitor-$version-linux-$arch.tar.gz"
    echo "build: packing $artifact"
    rm -f "$artifact"
    tar -C dist -czf "$artifact" StudioMonitor
    # The tarball is what a studio unpacks: unpack it elsewhere and self-test that copy.
    unpacked="$(mktemp -d)"
    trap 'rm -rf "$unpacked"' EXIT
    tar -C "$unpacked" -xzf "$artifact"
    echo "build: self-test of the unpacked tarball"
    "$unpacked/StudioMonitor/StudioMonitor" --self-test
    echo "build: the unpacked tarball passed its self-test" ;;
  windows)
    packaging/windows/make_installer.sh
    artifact="dist/StudioMonitor-$version-setup.exe" ;;
  macos)
    dmg_args=()
    if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
      # The certificate (and notary credentials) come from the workflow's secrets.
      NOTARY_KEYCHAIN="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/studio-monitor-signing.keychain-db"
      export NOTARY_KEYCHAIN
      packaging/macos/import_signing.sh "$NOTARY_KEYCHAIN"
      dmg_args+=(--sign "$MACOS_SIGN_IDENTITY")
      if [ -n "${APPLE_ID:-}" ]; then
        dmg_args+=(--notarize studio-notary)
      fi
    fi
    packaging/macos/make_dmg.sh ${dmg_args[@]+"${dmg_args[@]}"}
    artifact="dist/StudioMonitor-$version-macos-$arch.dmg" ;;
esac
[ -f "$artifact" ] || { echo "build: $artifact was not made" >&2; exit 1; }
sha256 "$artifact" > "dist/SHA256SUMS-$os.txt"
echo "build: $artifact ($(( $(wc -c < "$artifact") / 1000000 )) MB), SHA-256 in dist/SHA256SUMS-$os.txt:"
cat "dist/SHA256SUMS-$os.txt"
