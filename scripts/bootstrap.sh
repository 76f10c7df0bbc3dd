#!/usr/bin/env bash
# Sets up everything Studio Monitor needs on a fresh machine, idempotently:
#  - on Debian/Ubuntu, the system libraries Qt needs (offscreen and X11) and Xvfb,
#  - a virtual environment in .venv with the package installed in editable mode.
# Usage: scripts/bootstrap.sh [app|dev]   (dev adds the test and lint tools)
# Runs on Linux, macOS and Windows (Git Bash, as the release workflow does); PYTHON names the
# interpreter that makes .venv (default python3, or python on Windows).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-app}"

debs=(libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0
      libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
      libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0)
if [ "$kind" = dev ]; then
  # xvfb: the screenshot test's real X server; desktop-file-utils validates the Linux
  # bundle's .desktop file; binutils (objdump) is what PyInstaller reads libraries with.
  # redis-server: the tests of the hub replicas' Redis store start a real one.
  debs+=(xvfb xauth desktop-file-utils binutils redis-server)
fi

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "bootstrap: installing system packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# macOS (the release workflow's macos-latest job, or a developer's Mac): the Redis server the
# replica tests start, from Homebrew when it is there. Windows has none: those tests skip.
if [ "$kind" = dev ] && [ "$(uname -s)" = Darwin ] && ! command -v redis-server >/dev/null 2>&1; then
  if command -v brew >/dev/null 2>&1; then
    echo "bootstrap: installing redis (Homebrew)"
    HOMEBREW_NO_AUTO_UPDATE=1 HOMEBREW_NO_INSTALL_CLEANUP=1 brew install --quiet redis >/dev/null
  else
    echo "bootstrap: no Homebrew: the Redis tests will skip (brew install redis)"
  fi
fi

# The venv's interpreter: .venv/Scripts/python.exe on Windows, .venv/bin/python elsewhere.
case "$(uname -s)" in
  MINGW*|MSYS*|CYGWIN*) venv_python=.venv/Scripts/python.exe; python="${PYTHON:-python}" ;;
  *) venv_python=.venv/bin/python; python="${PYTHON:-python3}" ;;
esac
if [ ! -x "$venv_python" ]; then
  echo "bootstrap: creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi

# Reinstall only when pyproject.toml changed since the last install of this kind.
stamp=".venv/.stamp-$kind"
want="$("$venv_python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' pyproject.toml)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python packages ($kind)"
  extra=""
  [ "$kind" = dev ] && extra="[dev]"
  "$venv_python" -m pip install -q --upgrade pip
  "$venv_python" -m pip install -q -e ".$extra"
  echo "$want" > "$stamp"
fi

# The translations: each .ts compiled to its .qm beside it (not committed; about a second).
"$venv_python" -m studio_monitor.ui.i18n.tools build >/dev/null
