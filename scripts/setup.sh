#!/usr/bin/env bash
# Idempotent set-up shared by `npm start`, `npm test` and `npm run bench`:
# npm packages, the Python venv, Debian Chromium, and the self-hosted Pyodide dist.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. npm packages (vite, pyodide core).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# 2. Python venv with vpslog[analysis,backend,test,bench] (editable).
stamp=.venv/.vpslog-installed
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
# The venv sits inside an ESM package ("type": "module"); pytest-pyodide's Node
# driver is CommonJS, so mark the venv's own files as CommonJS.
[ -f .venv/package.json ] || echo '{"type": "commonjs"}' > .venv/package.json
if [ ! -f "$stamp" ] || [ py/pyproject.toml -nt "$stamp" ]; then
  log "installing vpslog[analysis,backend,test,bench] into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip 'setuptools>=68' wheel
  .venv/bin/python -m pip install --quiet -e 'py[analysis,backend,test,bench]'
  touch "$stamp"
fi

# 3. Chromium (Debian's: Playwright cannot download its own browser here).
CHROMIUM="${VPSLOG_CHROMIUM:-$(command -v chromium || true)}"
if [ -z "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "vpslog: Chromium not found. Install it (Debian: sudo apt-get install chromium)" >&2
    echo "        or point VPSLOG_CHROMIUM at a Chromium/Chrome binary." >&2
    exit 1
  fi
fi

# 4. Caddy: tests/web/test_app.py runs the TLS reverse proxy of docs/production.md on loopback.
if ! command -v caddy >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian caddy"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null
  else
    echo "vpslog: Caddy not found (the reverse-proxy test needs it). Install it (Debian: sudo apt-get install caddy)." >&2
    exit 1
  fi
fi

# 5. Self-hosted Pyodide: npm core + vpslog wheel + pure-Python wheels + lock.
.venv/bin/python scripts/stage_pyodide.py
