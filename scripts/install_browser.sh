#!/usr/bin/env bash
# Install what tests/test_browser.py needs: the system Chromium (Debian package) and the
# Playwright Python package in .venv. Never runs `playwright install` (no browser downloads:
# the tests launch /usr/bin/chromium). Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_PY="${VENV_PY:-.venv/bin/python}"

if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
fi

if ! "$VENV_PY" -c "import playwright" 2>/dev/null; then
    "$VENV_PY" -m pip install "playwright>=1.40"
fi

/usr/bin/chromium --version
"$VENV_PY" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
