"""``vpslog simulate``: the browser's traffic run, natively (CPython).

Each worker's part runs in its own process (the parts share nothing, as in the
browser) and streams its records to a part file; the parts are then appended
into ``<runId>.bin`` with a CRC32C, and the manifest is written in the logger's
format, so ``verify`` and ``analyze`` cannot tell the two apart.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .manifest import _iso_now, closed_manifest, new_run_id
from .packer import packed_batches
from .record import BUFFER_BYTES, RECORD_SIZE, RECORDS_PER_BUFFER
from .traffic import TrafficConfig, TrafficSim

BATCH_RECORDS = 64 * RECORDS_PER_BUFFER


def _run_part(config: dict, worker: int, workers: int, part_path: str) -> dict:
    sim = TrafficSim(TrafficConfig(**config), worker, workers)
    records = 0
    with open(part_path, "wb") as f:
        for packed in packed_batches(sim, BATCH_RECORDS):
            f.write(packed)
            records += len(packed) // RECORD_SIZE
    d = sim.describe()
    return {"worker": worker, "records": records, "run": d["run"], "producer": d["producer"], "stats": sim.stats}


def simulate(out_dir, config: TrafficConfig, workers: int = 1, processes: int | None = None) -> tuple[Path, Path]:
    import crc32c

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    created = _iso_now()
    parts = [out / f".{run_id}.part{w}" for w in range(workers)]
    cfg = json.loads(json.dumps(config.__dict__))
    try:
        with ProcessPoolExecutor(max_workers=processes or min(workers, os.cpu_count() or 1)) as pool:
            results = list(pool.map(_run_part, [cfg] * workers, range(workers), [workers] * workers, map(str, parts)))
        bin_path = out / f"{run_id}.bin"
        crc = 0
        with bin_path.open("wb") as dst:
            for p in parts:
                with p.open("rb") as src:
                    while block := src.read(1 << 20):
                        crc = crc32c.crc32c(block, crc)
                        dst.write(block)
    finally:
        for p in parts:
            p.unlink(missing_ok=True)
    producers = [
        {"id": r["worker"], "records": r["records"], "buffers": -(-r["records"] // RECORDS_PER_BUFFER),
         "reported_records": r["records"], "source": r["producer"], "stats": r["stats"]}
        for r in results
    ]
    total = sum(r["records"] for r in results)
    assert bin_path.stat().st_size == total * RECORD_SIZE
    source = {**results[0]["run"]}
    manifest = closed_manifest(
        run_id=run_id, mode="cli", created_at=created, source=source, producers=producers, records=total,
        checksum=f"{crc:08x}",
        config={"workers": workers, "source": {"source": "traffic", **cfg}, "pace": "max", "durationS": 0},
    )
    man_path = out / f"{run_id}.manifest.json"
    man_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return bin_path, man_path
