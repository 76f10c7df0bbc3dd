#!/usr/bin/env bash
# Publishes a GitHub release from the artifacts the build-and-test jobs uploaded:
#   packaging/publish_release.sh TAG DIR [--dry-run]
# TAG must be v<studio_monitor.__version__> (a tag that does not match the code is refused).
# DIR holds each OS's artifact and its dist/SHA256SUMS-<os>.txt: every checksum is verified,
# the three lists become one SHA256SUMS.txt, and the release is created with gh (GH_TOKEN)
# holding the Linux tarball, the Windows setup, the macOS dmg and SHA256SUMS.txt.
# --dry-run checks everything and prints the gh command instead of running it.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:?usage: publish_release.sh TAG DIR [--dry-run]}"
dir="${2:?usage: publish_release.sh TAG DIR [--dry-run]}"
dry_run=0
[ "${3:-}" = --dry-run ] && dry_run=1

version="$(sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' studio_monitor/__init__.py)"
[ -n "$version" ] || { echo "publish_release: no __version__ in studio_monitor/__init__.py" >&2; exit 1; }
if [ "$tag" != "v$version" ]; then
  echo "publish_release: tag $tag does not match the code's version $version (expected v$version)" >&2
  exit 1
fi

shopt -s nullglob
lists=("$dir"/SHA256SUMS-*.txt)
artifacts=()
for pattern in "StudioMonitor-$version-linux-*.tar.gz" "StudioMonitor-$version-setup.exe" \
    "StudioMonitor-$version-macos-*.dmg"; do
  # shellcheck disable=SC2206  # the pattern is meant to expand here
  found=("$dir"/$pattern)
  if [ "${#found[@]}" -ne 1 ]; then
    echo "publish_release: expected one $pattern in $dir, found ${#found[@]}" >&2
    exit 1
  fi
  artifacts+=("${found[0]}")
done
if [ "${#lists[@]}" -ne 3 ]; then
  echo "publish_release: expected three SHA256SUMS-<os>.txt in $dir, found ${#lists[@]}" >&2
  exit 1
fi
cat "${lists[@]}" | sort -k2 > "$dir/SHA256SUMS.txt"
# Every artifact is listed and its bytes are the ones the build job hashed.
(cd "$dir" && sha256sum --check --strict SHA256SUMS.txt)
for artifact in "${artifacts[@]}"; do
  if ! grep -q "  $(basename "$artifact")\$" "$dir/SHA256SUMS.txt"; then
    echo "publish_release: $(basename "$artifact") has no checksum" >&2
    exit 1
  fi
done

command=(gh release create "$tag" --verify-tag --title "Studio Monitor $version" --generate-notes
         "${artifacts[@]}" "$dir/SHA256SUMS.txt")
if [ "$dry_run" = 1 ]; then
  printf '%q ' "${command[@]}"
  echo
  exit 0
fi
"${command[@]}"
