#!/usr/bin/env bash
# Set everything up and run the checks: lint, types, all tests (real model included), evals.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
if [ -x scripts/install_browser.sh ]; then scripts/install_browser.sh; fi
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest -q --doctest-modules rag tests "$@"
if [ -f evals/__main__.py ]; then
  echo "== evals"; .venv/bin/python -m evals --out artifacts/eval-report.json
fi
