"""bench/reading.py on small real runs, so it cannot rot: every case runs both sides in their own
children (the scan's under RLIMIT_DATA) and both sides find the same rows, sums and files."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "reading.py"


def test_every_case_runs_and_both_sides_agree():
    out = subprocess.run([sys.executable, BENCH, "--records", "300000", "--scan-records", "400000", "--limit-mb", "900",
                          "--reps", "1"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for title in ("frame: 300,000 records", "scan: 400,000 records", "each child limited to 900 MB",
                  "parquet: 300,000 records", 'run.frame("events")', "np.fromfile + pl.from_numpy",
                  "vpslog export --format parquet", "pyarrow ParquetWriter"):
        assert title in out.stdout, title
    assert out.stdout.count("both sides found the same: OK") == 3, out.stdout
    assert "'rows': 300000" in out.stdout and "'row_groups': 1" in out.stdout
