#!/usr/bin/env bash
# `npm run bench`: the side-by-side benchmarks. Pipeline options (--seconds, --reps)
# go to bench/pipeline.py; set ANALYSIS_RECORDS to size the analysis file (default 100 M).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python bench/pipeline.py "$@"
echo
exec .venv/bin/python bench/analysis.py --records "${ANALYSIS_RECORDS:-100000000}"
