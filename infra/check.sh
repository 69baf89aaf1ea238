#!/usr/bin/env bash
# Checks infra/ without an Azure account or the Bicep CLI:
#   1. checkov over every .bicep file: zero failed checks, zero files it could not parse
#      (a file checkov cannot parse is silently left unchecked, so that counts as a failure too), and
#      every check that passed in the recorded run (infra/checkov-expected.json) passes again, over at
#      least as many resources (infra/checkov_report.py); `bash infra/check.sh --record-checkov`
#      records the current run after a deliberate change;
#   2. infra/typecheck.py: every resource body against Azure's own resource types (the types.json
#      files the Bicep compiler uses, vendored in infra/bicep-types/): zero findings;
#   3. pytest tests/infra: the parsed templates against the code's settings and the design, and
#      mutated templates against the type checker (it must catch each mutation).
# Tools live in .venv-infra at the repo root (requirements-infra.txt), apart from the app's .venv.
# Idempotent: installs only when requirements-infra.txt changed; quiet when nothing is wrong.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-infra"
requirements="$root/requirements-infra.txt"
stamp="$venv/.requirements-infra.sha256"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "infra/check.sh: installing requirements-infra.txt into .venv-infra"
  [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -qq --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

# --skip-download: no calls to the Prisma Cloud API (there is no network to it, and none is needed).
# Not --quiet: the JSON report must list the passed checks, which infra/checkov_report.py compares with
# the record of the last accepted run (infra/checkov-expected.json); the console shows the failures only.
checkov_status=0
"$venv/bin/checkov" \
  --directory "$root/infra" \
  --framework bicep \
  --skip-download \
  --compact \
  --output cli --output json \
  --output-file-path "$results/checkov.txt,$results/checkov.json" >/dev/null || checkov_status=$?

record=()
[[ "${1:-}" == "--record-checkov" ]] && record=(--record)
if ! "$venv/bin/python" "$root/infra/checkov_report.py" "$results/checkov.json" "$checkov_status" "${record[@]}"; then
  grep -v "^Check: .*PASSED" "$results/checkov.txt" 2>/dev/null | grep -B1 -A8 "FAILED" || true
  exit 1
fi

"$venv/bin/python" "$root/infra/typecheck.py"

cd "$root"
# --confcutdir: tests/conftest.py is the app's (Azurite, Pillow...); tests/infra needs none of it.
"$venv/bin/python" -m pytest -q -p no:cacheprovider --confcutdir=tests/infra tests/infra
