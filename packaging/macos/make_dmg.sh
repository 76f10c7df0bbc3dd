#!/usr/bin/env bash
# Makes dist/StudioMonitor-<version>-macos-<arch>.dmg from dist/Studio Monitor.app (built by
# packaging/build.sh on a Mac), optionally signed and notarized.
#
#   packaging/macos/make_dmg.sh
#       an unsigned dmg, for trying it out (Gatekeeper will refuse to open the app on
#       another Mac unless the user right-clicks > Open)
#   packaging/macos/make_dmg.sh --sign "Developer ID Application: Studio Name (TEAMID)"
#       signs the app (hardened runtime, packaging/macos/entitlements.plist) and the dmg
#   packaging/macos/make_dmg.sh --sign "Developer ID Application: ..." --notarize PROFILE
#       also sends the dmg to Apple's notary service, waits, and staples the ticket
#
# Signing and notarizing are run by the person who holds the studio's Apple Developer ID
# certificate, on a Mac where it is in the login keychain. PROFILE is a notarytool keychain
# profile made once with:
#   xcrun notarytool store-credentials PROFILE --apple-id you@example.com --team-id TEAMID
# (it asks for an app-specific password made at appleid.apple.com). See packaging/README.md.
# NOTARY_KEYCHAIN names the keychain holding that profile when it is not in the search list
# (the release workflow keeps it in a temporary keychain: packaging/macos/import_signing.sh).
#
# This script needs macOS (hdiutil, codesign, xcrun); it cannot run on the Linux build
# machine and was written against Apple's documentation of those tools.
set -euo pipefail
cd "$(dirname "$0")/../.."

identity=""
profile=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sign) identity="${2:?--sign needs the certificate name}"; shift 2 ;;
    --notarize) profile="${2:?--notarize needs a notarytool keychain profile}"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "make_dmg.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$profile" ] && [ -z "$identity" ]; then
  echo "make_dmg.sh: --notarize needs --sign (Apple notarizes only signed apps)" >&2
  exit 2
fi
if [ "$(uname -s)" != Darwin ]; then
  echo "make_dmg.sh: run this on macOS (hdiutil and codesign are macOS tools)" >&2
  exit 1
fi

app="dist/Studio Monitor.app"
entitlements="packaging/macos/entitlements.plist"
if [ ! -d "$app" ]; then
  echo "make_dmg.sh: $app not found; build it first with packaging/build.sh" >&2
  exit 1
fi
# The version the spec wrote from studio_monitor.__version__.
version="$(/usr/libexec/PlistBuddy -c 'Print :StudioMonitorVersion' "$app/Contents/Info.plist")"
# The bundle runs on the processor it was built on: the name says which.
dmg="dist/StudioMonitor-$version-macos-$(uname -m).dmg"

if [ -n "$identity" ]; then
  echo "== signing $app as $identity"
  # Inside out is what Apple asks for; PyInstaller apps contain many loose .so/.dylib files
  # and Qt frameworks, which --deep reaches. Each gets the hardened runtime and a timestamp.
  codesign --force --deep --timestamp --options runtime \
    --entitlements "$entitlements" --sign "$identity" "$app"
  codesign --verify --deep --strict --verbose=2 "$app"
fi

echo "== building $dmg"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
ditto "$app" "$stage/Studio Monitor.app"
ln -s /Applications "$stage/Applications"
rm -f "$dmg"
hdiutil create -volname "Studio Monitor $version" -srcfolder "$stage" -ov -format UDZO "$dmg"

if [ -n "$identity" ]; then
  echo "== signing $dmg"
  codesign --force --timestamp --sign "$identity" "$dmg"
fi

if [ -n "$profile" ]; then
  echo "== notarizing $dmg (this waits for Apple, usually a few minutes)"
  keychain_args=()
  [ -n "${NOTARY_KEYCHAIN:-}" ] && keychain_args=(--keychain "$NOTARY_KEYCHAIN")
  xcrun notarytool submit "$dmg" --keychain-profile "$profile" ${keychain_args[@]+"${keychain_args[@]}"} --wait
  xcrun stapler staple "$dmg"
  xcrun stapler validate "$dmg"
  spctl --assess --type open --context context:primary-signature --verbose=2 "$dmg"
fi

echo "== done: $dmg ($(du -h "$dmg" | cut -f1))"
