#!/usr/bin/env bash
# Set everything up and start the service (the web UI; it builds the index on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
if [ -f app.py ]; then
  exec .venv/bin/python app.py "$@"
fi
# No UI yet: build the index and answer the demo question from the command line.
.venv/bin/rag index
exec .venv/bin/rag ask "Why won't Russia drop Assad?"
