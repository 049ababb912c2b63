"""What every peer shares: loading a run as a user would, and the BPR fit with SciPy.

A user without vpslog reads the 10-byte records with numpy, takes t0 and
capacity from the manifest's edge table, and fits BPR with ``curve_fit`` on
log(T/t0) grouped by V/C (weighted by group size: the same minimiser as a fit
on every traversal). Each peer prints one JSON line: traversals, alpha, beta.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

DTYPE = np.dtype([("time_ms", "<u4"), ("vehicle_id", "<u2"), ("edge_id", "<u2"), ("status", "u1"), ("pad", "u1")])


def load(bin_path: str):
    """Records as columns, and the edge table (edge_id, free_flow_s, capacity) as columns."""
    recs = np.fromfile(bin_path, dtype=DTYPE)
    manifest = json.loads(Path(bin_path.removesuffix(".bin") + ".manifest.json").read_text())
    e = manifest["source"]["network"]["edges"]
    edges = {k: np.asarray(e[k]) for k in ("edge_id", "free_flow_s", "capacity")}
    return {c: recs[c] for c in ("time_ms", "vehicle_id", "edge_id", "status")}, edges


def fit_and_print(traversals: int, vc, n, s) -> None:
    from scipy.optimize import curve_fit

    vc, n, mean = np.asarray(vc, float), np.asarray(n, float), np.asarray(s, float) / np.asarray(n, float)

    def model(x, c, a, b):
        return c + np.log1p(a * x ** b)

    (c, a, b), _ = curve_fit(model, vc, mean, p0=(0.0, 0.15, 4.0), sigma=1 / np.sqrt(n),
                             bounds=([-1, 1e-6, 0.1], [1, 10, 20]))
    print(json.dumps({"traversals": int(traversals), "alpha": float(a), "beta": float(b)}))


def main(analyse) -> None:
    for path in sys.argv[1:]:
        analyse(path)
