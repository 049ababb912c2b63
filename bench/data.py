"""Large analysis inputs made of distinct simulated runs, cached under build/bench-data.

A traffic run has one trip per vehicle and at most 65,535 vehicles (~1.7 M records), so a
large input is many runs laid end to end in time. Each segment is a run of its own: the same
network (one seed) and the same BPR ground truth, but its own demand curve, trip lengths and
number of sim workers (so its own random streams). The whole is a valid log of one network
with known alpha and beta, and no block of it repeats another, unlike a tiled run (on which
vpslog ran ~1.5x faster than on distinct runs, and the peers did not).

``fair_run(records, distinct)`` uses ``distinct`` segments (default: as many as needed); fewer
segments than needed are cycled, in a shuffled order each cycle: for the 3 GB and 10 GB memory
checks only, whose simulation would take hours here (a segment takes ~20-40 s of one core).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "build" / "bench-data"
SEED = 3  # the network: every segment drives on the same one
BASE = {"vehicles": 65_535, "grid": 48}
VERSION = 1  # bump when the segment recipe changes: the cache keys on it


def segment_params(i: int) -> tuple[dict, int]:
    """Segment ``i``'s source parameters and sim worker count."""
    return ({**BASE, "peak_at": round(0.25 + 0.5 * ((i * 7) % 11) / 10, 3),
             "peak_width": round(0.08 + 0.08 * ((i * 3) % 5) / 4, 3),
             "demand_base": round(0.1 + 0.3 * ((i * 5) % 7) / 6, 3),
             "min_hops": 4 + i % 3, "max_hops": 20 + (i * 3) % 11}, 2 + i % 5)


def _key(*parts) -> str:
    return hashlib.sha1(json.dumps([VERSION, SEED, *parts], sort_keys=True).encode()).hexdigest()[:10]


def segment(i: int) -> tuple[Path, dict]:
    """Segment ``i`` (simulated once, on one core: the machine is shared)."""
    from vpslog.simulate import simulate

    params, workers = segment_params(i)
    folder = DATA / "segments" / f"seg-{i:04d}-{_key(params, workers)}"
    done = list(folder.glob("*.bin"))
    if not done:
        for old in folder.glob("*"):
            old.unlink()
        t = time.perf_counter()
        simulate(folder, "traffic", params, workers=workers, seed=SEED, processes=1)
        done = list(folder.glob("*.bin"))
        print(f"# segment {i}: {done[0].stat().st_size // 10:,} records simulated in {time.perf_counter() - t:.0f} s",
              file=sys.stderr, flush=True)
    bin_path = done[0]
    return bin_path, json.loads(bin_path.with_name(bin_path.stem + ".manifest.json").read_text())


def fair_run(records: int, distinct: int | None = None) -> Path:
    """A run of at least ``records`` records made of segments laid end to end in time (cached)."""
    import crc32c
    from vpslog.record import numpy_dtype

    name = f"fair-{records}-{distinct or 'all'}-{_key(records, distinct)}"
    big = DATA / f"{name}.bin"
    if big.exists():
        return big
    pool: list[int] = []
    order: list[int] = []
    total, offset, crc, first = 0, 0, 0, None
    producers = []
    rng = random.Random(1)
    tmp = big.with_suffix(".partial")
    DATA.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as f:
        while total < records:
            if distinct is None or len(pool) < distinct:
                i = len(pool)
                pool.append(i)
            else:  # every distinct segment used: cycle them, shuffled
                if not order:
                    order = pool[:]
                    rng.shuffle(order)
                i = order.pop()
            bin_path, m = segment(i)
            if first is None:
                first = m
            elif m["source"]["network"]["edges"] != first["source"]["network"]["edges"]:
                raise RuntimeError(f"segment {i} is not on the first segment's network")
            recs = np.fromfile(bin_path, dtype=numpy_dtype())
            span = int(recs["time_ms"].max()) + 1
            recs["time_ms"] += np.uint32(offset)
            raw = recs.tobytes()
            crc = crc32c.crc32c(raw, crc)
            f.write(raw)
            offset += span
            total += len(recs)
            producers += [{**p, "id": len(producers) + j} for j, p in enumerate(m["producers"])]
    m = {**first, "run_id": name, "records": total, "bytes": total * 10, "producers": producers,
         "checksum": {"algorithm": "crc32c", "value": f"{crc:08x}"}}
    big.with_name(name + ".manifest.json").write_text(json.dumps(m))
    tmp.rename(big)
    return big


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--distinct", type=int, help="segments to cycle (default: all distinct)")
    a = ap.parse_args()
    print(fair_run(a.records, a.distinct))
