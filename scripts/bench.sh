#!/usr/bin/env bash
# `npm run bench`: the side-by-side benchmark (see bench/pipeline.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python bench/pipeline.py "$@"
