#!/usr/bin/env bash
# The whole test suite, fastest checks first (`make test`). Sets up everything it needs itself:
# virtual environment, headless Chromium for browser tests, a trained model.
set -euo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false PYTHONPATH="$PWD" TF_CPP_MIN_LOG_LEVEL=3
START=$(date +%s)
step() { echo; echo "=== [$(( $(date +%s) - START ))s] $*"; }

step "virtual environment"
bash scripts/ensure_venv.sh
PY=.venv/bin/python

step "headless browser for the dashboard tests"
if [ -f scripts/ensure_browser.sh ]; then bash scripts/ensure_browser.sh || echo "(browser tests will be skipped: see above)"; fi

step "lint (ruff)"
.venv/bin/ruff check actions components connectors dashboard stores scripts tests bench

step "rasa data validate --fail-on-warnings"
.venv/bin/rasa data validate --fail-on-warnings --domain domain.yml --data data --config config.yml 2>&1 | tail -n 25
test "${PIPESTATUS[0]}" -eq 0

step "train the model if config, domain or data changed"
$PY -m scripts.train

step "pytest (unit, content, connector and dashboard end-to-end)"
set +e
$PY -m pytest -q -p no:cacheprovider tests
rc=$?
set -e
if [ $rc -ne 0 ]; then echo "pytest failed ($rc)"; exit $rc; fi

step "conversation tests (rasa test stories, tests/test_*.yml)"
$PY -m scripts.conversation_tests

step "done in $(( $(date +%s) - START ))s"
