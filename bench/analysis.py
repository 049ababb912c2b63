"""Analysis benchmark (part of `npm run bench`): `vpslog analyze` on a 100 M-record
(1 GB) traffic run against a bare `numpy.fromfile` of the same file, and the
peak memory of each, measured side by side in one run (medians of --reps).

The 100 M-record file is a real simulated run (65,535 vehicles, 2 workers)
repeated with time offsets: each copy is the same vehicles driving the same
trips again later, so it is a valid log with known BPR ground truth, made in
seconds instead of the ~10 minutes a single 100 M-record simulation takes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "build" / "bench"

# Peak resident memory of the child itself (VmHWM; ru_maxrss would include the parent's pages).
CHILD = """
import json, re, sys, time
t = time.perf_counter()
if sys.argv[1] == "fromfile":
    import numpy as np
    from vpslog.record import numpy_dtype
    n = len(np.fromfile(sys.argv[2], dtype=numpy_dtype()))
    out = {"records": n}
else:
    from vpslog.analysis import analyze
    r = analyze(sys.argv[2])
    out = {k: r[k] for k in ("records", "traversals", "alpha", "beta")}
out["seconds"] = time.perf_counter() - t
out["peak_mb"] = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024
print(json.dumps(out))
"""


def build_file(records_target: int) -> Path:
    from vpslog.record import numpy_dtype
    from vpslog.simulate import simulate
    from vpslog.traffic import TrafficConfig

    WORK.mkdir(parents=True, exist_ok=True)
    big = WORK / f"traffic-{records_target}.bin"
    if big.exists():
        return big
    for old in WORK.glob("run-*"):
        old.unlink()
    t = time.perf_counter()
    base_bin, base_man = simulate(WORK, TrafficConfig(vehicles=65_535, grid=48, seed=3), workers=2)
    print(f"# base run: {base_bin.stat().st_size // 10:,} records simulated in {time.perf_counter() - t:.1f} s", flush=True)
    base = np.fromfile(base_bin, dtype=numpy_dtype())
    span = int(base["time_ms"].max()) + 1
    copies = -(-records_target // len(base))
    import crc32c

    crc = 0
    with big.open("wb") as f:
        for i in range(copies):
            tile = base.copy()
            tile["time_ms"] += np.uint32(i * span)
            raw = tile.tobytes()
            crc = crc32c.crc32c(raw, crc)
            f.write(raw)
    m = json.loads(base_man.read_text())
    n = copies * len(base)
    m.update(run_id=big.stem, records=n, bytes=n * 10, checksum={"algorithm": "crc32c", "value": f"{crc:08x}"})
    for p in m["producers"]:
        for k in ("records", "buffers", "reported_records"):
            p[k] *= copies
        p["stats"] = {k: v * copies for k, v in p["stats"].items()}
    big.with_name(big.stem + ".manifest.json").write_text(json.dumps(m))
    base_bin.unlink()
    base_man.unlink()
    return big


def run_child(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100_000_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    path = build_file(args.records)
    runs = {"fromfile": [], "analyze": []}
    for _ in range(args.reps):
        for mode in runs:  # interleaved
            runs[mode].append(run_child(mode, path))
    med = {m: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_mb")} for m, rs in runs.items()}
    a = runs["analyze"][0]
    size_gb = path.stat().st_size / 1e9
    print()
    print(f"vpslog analyze on {a['records']:,} records ({size_gb:.2f} GB), medians of {args.reps}")
    print(f"{'':<28}{'seconds':>10}{'peak RSS MB':>14}{'M records/s':>14}")
    for mode, label in (("fromfile", "numpy.fromfile (bare read)"), ("analyze", "vpslog analyze")):
        s, mb = med[mode]["seconds"], med[mode]["peak_mb"]
        print(f"{label:<28}{s:>10.1f}{mb:>14.0f}{a['records'] / s / 1e6:>14.1f}")
    print(f"analyze / fromfile: time x{med['analyze']['seconds'] / med['fromfile']['seconds']:.1f}, "
          f"peak memory x{med['analyze']['peak_mb'] / med['fromfile']['peak_mb']:.2f}")
    print(f"fit on {a['traversals']:,} traversals: alpha {a['alpha']:.4f}, beta {a['beta']:.3f} (truth 0.15, 4)")


if __name__ == "__main__":
    main()
