#!/usr/bin/env bash
# `npm start`: set up what is missing, then serve the app on http://127.0.0.1:5173/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node node_modules/vite/bin/vite.js --port "${PORT:-5173}" "$@"
