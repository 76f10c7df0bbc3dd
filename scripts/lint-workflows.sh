#!/usr/bin/env bash
# Lints what the release pipeline runs: the GitHub Actions workflows (actionlint, which also
# runs shellcheck on their `run:` blocks) and the shell scripts they and .ci/run call
# (shellcheck). A broken workflow fails here, in .ci/run, before it ever reaches GitHub.
# Both tools come from the dev extra (wheels with the binaries; Linux x86_64).
#   scripts/lint-workflows.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
for tool in actionlint shellcheck; do
  if [ ! -x ".venv/bin/$tool" ]; then
    echo "lint-workflows: .venv/bin/$tool is missing (the dev extra installs it on Linux x86_64)" >&2
    exit 1
  fi
done
# actionlint looks for shellcheck on PATH.
export PATH="$PWD/.venv/bin:$PATH"
echo "== actionlint ($(actionlint -version | head -1))"
actionlint -color=false .github/workflows/*.yml
scripts=(.ci/run scripts/*.sh packaging/*.sh packaging/*/*.sh)
echo "== shellcheck ($(shellcheck --version | sed -n 's/^version: //p')): ${#scripts[@]} scripts"
shellcheck --severity=style "${scripts[@]}"
echo "lint-workflows: clean"
