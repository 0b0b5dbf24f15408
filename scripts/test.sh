#!/usr/bin/env bash
# Set everything up and run the checks: lint, types, all tests (real model included), evals.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
if [ -x scripts/install_browser.sh ]; then scripts/install_browser.sh; fi
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
# --durations: the slowest tests in the log, to keep CI within its ~20 minutes
echo "== pytest"; .venv/bin/python -m pytest -q --doctest-modules --durations=25 rag tests "$@"
echo "== evals"
# Exactly the README's command (tests/test_readme.py checks this line is here, instead of
# running the suite a second time). It writes report.json and report.md in the project root
# (git-ignored); CI keeps them in artifacts/ as eval-report.*, whatever the exit status.
rm -f report.json report.md
status=0
.venv/bin/rag eval --out report.json || status=$?
mkdir -p artifacts
for f in report.json report.md; do
  if [ -f "$f" ]; then cp "$f" "artifacts/eval-$f"; fi
done
exit "$status"
