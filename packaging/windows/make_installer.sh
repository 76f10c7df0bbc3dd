#!/usr/bin/env bash
# Makes dist/StudioMonitor-<version>-setup.exe from dist/StudioMonitor/ (built by
# packaging/build.sh) with Inno Setup 6, on Windows, from Git Bash:
#   packaging/windows/make_installer.sh
# ISCC.exe is taken from PATH or Inno Setup's usual folders; when it is not there and
# Chocolatey is (GitHub's Windows runners), `choco install innosetup` installs it.
#
# Signing (optional): with WINDOWS_SIGN_PFX_BASE64 (a code-signing certificate as a
# base64-encoded .pfx) and WINDOWS_SIGN_PFX_PASSWORD in the environment, both executables are
# signed before ISCC packs them and the setup after, with signtool and an RFC 3161 timestamp
# (WINDOWS_SIGN_TIMESTAMP_URL, default http://timestamp.digicert.com). Without them nothing
# is signed and SmartScreen warns on first run. See packaging/README.md, "Signing".
#
# Written against the Inno Setup 6 and signtool documentation; it cannot run on the Linux
# build machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

case "$(uname -s)" in
  MINGW*|MSYS*|CYGWIN*) ;;
  *) echo "make_installer.sh: run this on Windows, from Git Bash (ISCC and signtool are Windows tools)" >&2
     exit 1 ;;
esac
if [ ! -f dist/StudioMonitor/StudioMonitor.exe ]; then
  echo "make_installer.sh: dist/StudioMonitor/StudioMonitor.exe not found; run packaging/build.sh first" >&2
  exit 1
fi

find_iscc() {
  local candidate
  for candidate in "$(command -v ISCC.exe || true)" "$(command -v iscc || true)" \
      "/c/Program Files (x86)/Inno Setup 6/ISCC.exe" "/c/Program Files/Inno Setup 6/ISCC.exe"; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
if ! iscc="$(find_iscc)"; then
  if command -v choco >/dev/null 2>&1; then
    echo "make_installer.sh: installing Inno Setup with Chocolatey"
    choco install innosetup --no-progress -y >/dev/null
  fi
  iscc="$(find_iscc)" || { echo "make_installer.sh: ISCC.exe (Inno Setup 6) not found" >&2; exit 1; }
fi

# Git Bash rewrites arguments that start with / into paths; signtool's options must pass as
# they are.
sign() {
  MSYS2_ARG_CONV_EXCL='*' "$signtool" sign /f "$pfx" /p "$WINDOWS_SIGN_PFX_PASSWORD" \
    /fd SHA256 /tr "${WINDOWS_SIGN_TIMESTAMP_URL:-http://timestamp.digicert.com}" /td SHA256 "$@"
  MSYS2_ARG_CONV_EXCL='*' "$signtool" verify /pa "$@"
}
signing=0
if [ -n "${WINDOWS_SIGN_PFX_BASE64:-}" ]; then
  signing=1
  # signtool ships with the Windows SDK; the newest one installed is used.
  signtool="$(find "/c/Program Files (x86)/Windows Kits/10/bin" -path '*/x64/signtool.exe' 2>/dev/null | sort -V | tail -1)"
  [ -n "$signtool" ] || { echo "make_installer.sh: signtool.exe (Windows SDK) not found" >&2; exit 1; }
  mkdir -p build/signing
  pfx=build/signing/studio-monitor.pfx
  trap 'rm -f "$pfx"' EXIT
  printf '%s' "$WINDOWS_SIGN_PFX_BASE64" | base64 -d > "$pfx"
  echo "make_installer.sh: signing the executables"
  sign dist/StudioMonitor/StudioMonitor.exe dist/StudioMonitor/studio-monitor.exe
fi

echo "make_installer.sh: compiling packaging/windows/studio_monitor.iss with $iscc"
"$iscc" packaging/windows/studio_monitor.iss
version="$(.venv/Scripts/python.exe -c 'import studio_monitor; print(studio_monitor.__version__)')"
setup="dist/StudioMonitor-$version-setup.exe"
[ -f "$setup" ] || { echo "make_installer.sh: ISCC did not make $setup" >&2; exit 1; }
if [ "$signing" = 1 ]; then
  echo "make_installer.sh: signing $setup"
  sign "$setup"
fi
echo "make_installer.sh: done: $setup"
