#!/bin/sh
# Adds Studio Monitor to the desktop's application menu, for this user or (as root, with
# --system) for every user. Run it from the unpacked StudioMonitor folder, where it lives:
#   ./install-desktop-entry.sh            menu entry for the current user
#   sudo ./install-desktop-entry.sh --system
#   ./install-desktop-entry.sh --uninstall [--system]
# It writes only the menu entry and its icon; the app folder stays where it is (move the
# folder first, e.g. to /opt/StudioMonitor, then run this). User data is never touched.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
scope=user
action=install
for arg in "$@"; do
  case "$arg" in
    --system) scope=system ;;
    --uninstall) action=uninstall ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install-desktop-entry.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

if [ "$scope" = system ]; then
  apps=/usr/share/applications
  icons=/usr/share/icons/hicolor/256x256/apps
else
  data="${XDG_DATA_HOME:-$HOME/.local/share}"
  apps="$data/applications"
  icons="$data/icons/hicolor/256x256/apps"
fi

if [ "$action" = uninstall ]; then
  rm -f "$apps/studio-monitor.desktop" "$icons/studio-monitor.png"
  echo "removed the Studio Monitor menu entry from $apps"
  exit 0
fi

if [ ! -x "$here/StudioMonitor" ]; then
  echo "install-desktop-entry.sh: $here/StudioMonitor not found; run me from the app folder" >&2
  exit 1
fi
# shellcheck disable=SC1003  # '\' is a backslash pattern, not an escaped quote
case "$here" in
  *'"'*|*"'"*|*'\'*|*'`'*|*'$'*)
    echo "install-desktop-entry.sh: move the folder to a path without quotes, \\, \` or \$" >&2
    exit 1 ;;
esac

mkdir -p "$apps" "$icons"
cp "$here/studio-monitor.png" "$icons/studio-monitor.png"
# The entry shipped in the folder says Exec=StudioMonitor; point it at this folder.
sed -e "s|^Exec=.*|Exec=\"$here/StudioMonitor\"|" \
    -e "s|^Icon=.*|Icon=$icons/studio-monitor.png|" \
    "$here/studio-monitor.desktop" > "$apps/studio-monitor.desktop"
chmod 644 "$apps/studio-monitor.desktop"
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database "$apps" >/dev/null 2>&1 || true
fi
echo "installed $apps/studio-monitor.desktop (runs $here/StudioMonitor)"
