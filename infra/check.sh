#!/usr/bin/env bash
# Checks infra/ without an Azure account or the Bicep CLI:
#   1. checkov over every .bicep file: zero failed checks, zero files it could not parse
#      (a file checkov cannot parse is silently left unchecked, so that counts as a failure too);
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
checkov_status=0
"$venv/bin/checkov" \
  --directory "$root/infra" \
  --framework bicep \
  --skip-download \
  --quiet --compact \
  --output cli --output json \
  --output-file-path "console,$results/checkov.json" || checkov_status=$?

"$venv/bin/python" - "$results/checkov.json" "$checkov_status" <<'PY'
import json
import sys

path, status = sys.argv[1], int(sys.argv[2])
try:
    with open(path, encoding="utf-8") as handle:
        reports = json.load(handle)
except (OSError, ValueError) as error:
    sys.exit(f"infra/check.sh: checkov wrote no readable report ({error}); exit status {status}")
reports = reports if isinstance(reports, list) else [reports]
summary = {key: sum(r["summary"][key] for r in reports) for key in ("passed", "failed", "skipped", "parsing_errors")}
print(
    "checkov (bicep): {passed} passed, {failed} failed, {skipped} skipped (reasons inline), "
    "{parsing_errors} parsing errors".format(**summary)
)
problems = []
if summary["failed"] or status:
    problems.append(f"{summary['failed']} failed checks (exit status {status})")
if summary["parsing_errors"]:
    problems.append(f"{summary['parsing_errors']} files checkov could not parse (so did not check)")
if not summary["passed"]:
    problems.append("no check passed: did checkov find the templates?")
if problems:
    sys.exit("infra/check.sh: " + "; ".join(problems))
PY

"$venv/bin/python" "$root/infra/typecheck.py"

cd "$root"
# --confcutdir: tests/conftest.py is the app's (Azurite, Pillow...); tests/infra needs none of it.
"$venv/bin/python" -m pytest -q -p no:cacheprovider --confcutdir=tests/infra tests/infra
