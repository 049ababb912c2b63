#!/usr/bin/env bash
# `npm start`: set up what is missing, start the presign API (`vpslog serve`,
# with a local S3 endpoint unless VPSLOG_S3_ENDPOINT is set), then serve the app
# on http://127.0.0.1:5173/ with /api proxied to it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
API_PORT="${VPSLOG_API_PORT:-8787}"
PORT="${PORT:-5173}"
export VPSLOG_ALLOWED_ORIGINS="${VPSLOG_ALLOWED_ORIGINS:-http://127.0.0.1:$PORT,http://localhost:$PORT}"
.venv/bin/vpslog serve --port "$API_PORT" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null' EXIT INT TERM
export VPSLOG_API_ORIGIN="http://127.0.0.1:$API_PORT"
node node_modules/vite/bin/vite.js --port "$PORT" "$@"
