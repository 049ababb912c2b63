#!/usr/bin/env bash
# `npm test`: set up what is missing, then run every test (Python, Pyodide, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
