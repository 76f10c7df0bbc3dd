#!/usr/bin/env bash
# For the release workflow on a macOS runner: puts the Developer ID certificate and the notary
# credentials from the workflow's secrets into a temporary keychain, so that
# packaging/macos/make_dmg.sh can sign and notarize:
#   packaging/macos/import_signing.sh KEYCHAIN     (a new keychain file, e.g. in RUNNER_TEMP)
# Run by packaging/build.sh --release when MACOS_SIGN_IDENTITY is set. Reads:
#   MACOS_SIGN_P12_BASE64    the "Developer ID Application" certificate and key, a .p12, base64
#   MACOS_SIGN_P12_PASSWORD  its password
#   APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD   (optional) the notary service account; when
#                            set, a notarytool profile `studio-notary` is stored in the keychain
# make_dmg.sh then needs NOTARY_KEYCHAIN=KEYCHAIN. On a GitHub runner the keychain dies with
# the runner; on a real Mac delete it afterwards (security delete-keychain KEYCHAIN).
#
# Written against Apple's `security` and `notarytool` documentation; not run on the Linux
# build machine.
set -euo pipefail

if [ "$(uname -s)" != Darwin ]; then
  echo "import_signing.sh: run this on macOS" >&2
  exit 1
fi
: "${MACOS_SIGN_P12_BASE64:?the certificate (base64 .p12) is not set}"
: "${MACOS_SIGN_P12_PASSWORD:?the password of the certificate is not set}"

keychain="${1:?usage: import_signing.sh KEYCHAIN}"
keychain_password="$(uuidgen)"
p12="$(mktemp)"
trap 'rm -f "$p12"' EXIT
printf '%s' "$MACOS_SIGN_P12_BASE64" | base64 --decode > "$p12"

security create-keychain -p "$keychain_password" "$keychain"
security set-keychain-settings -lut 21600 "$keychain"
security unlock-keychain -p "$keychain_password" "$keychain"
security import "$p12" -k "$keychain" -P "$MACOS_SIGN_P12_PASSWORD" -T /usr/bin/codesign
security set-key-partition-list -S apple-tool:,apple:,codesign: -s -k "$keychain_password" "$keychain" >/dev/null
# codesign finds identities through the user's keychain search list.
existing=()
while IFS= read -r line; do
  line="${line#"${line%%[![:space:]]*}"}"
  line="${line#\"}"
  existing+=("${line%\"}")
done < <(security list-keychains -d user)
security list-keychains -d user -s "$keychain" ${existing[@]+"${existing[@]}"}

if [ -n "${APPLE_ID:-}" ]; then
  : "${APPLE_TEAM_ID:?APPLE_TEAM_ID is needed with APPLE_ID}"
  : "${APPLE_APP_PASSWORD:?APPLE_APP_PASSWORD is needed with APPLE_ID}"
  xcrun notarytool store-credentials studio-notary --apple-id "$APPLE_ID" \
    --team-id "$APPLE_TEAM_ID" --password "$APPLE_APP_PASSWORD" --keychain "$keychain"
fi
echo "import_signing.sh: certificate and notary profile in $keychain"
