"""``vpslog simulate``: any event source, natively (CPython), as the browser runs it.

Each worker's part runs in its own process (parts share nothing, as in the
browser) and drives the very :class:`vpslog.bridge.Producer` the sim worker
drives, streaming whole buffers to a part file; the parts are then appended
into ``<runId>.bin`` with a CRC32C, and the manifest is written in the
logger's format, so ``verify`` and ``analyze`` cannot tell the two apart.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import registry
from .bridge import Producer
from .manifest import _iso_now, closed_manifest, new_run_id
from .record import RECORD_SIZE, RECORDS_PER_BUFFER
from .source import Part

BUFFERS_PER_CALL = 64


def _run_part(spec: str, params: dict, part: Part, code: dict | None, part_path: str) -> dict:
    producer = Producer(spec, params, part, code)
    with open(part_path, "wb") as f:
        while not producer.exhausted:
            f.write(producer.produce(BUFFERS_PER_CALL, budget_ms=1000))
        f.write(producer.flush())
    return {"worker": part.worker, "records": producer.records_out, "describe": producer.describe(),
            "stats": producer.stats, "error": producer.error}


def provenance(spec: str) -> dict | None:
    """File name, version and sha256 of a user's model file, for the manifest."""
    path = spec.rpartition(":")[0] if ":" in spec else spec
    if not path.endswith(".py"):
        return None
    return {**registry.code_provenance(path), "version": str(registry.resolve(spec).version)}


def simulate(out_dir, source: str = "traffic", params: dict | None = None, workers: int = 1, seed: int = 1,
             processes: int | None = None) -> tuple[Path, Path]:
    """Run ``source`` (a registry spec) with ``params`` as ``workers`` parts; returns (bin, manifest)."""
    import crc32c

    params = registry.resolve(source).resolve_params(params or {})  # refuse bad input before any process starts
    code = provenance(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    created = _iso_now()
    parts = [out / f".{run_id}.part{w}" for w in range(workers)]
    try:
        with ProcessPoolExecutor(max_workers=processes or min(workers, os.cpu_count() or 1)) as pool:
            results = list(pool.map(_run_part, [source] * workers, [params] * workers,
                                    [Part(w, workers, seed) for w in range(workers)], [code] * workers, map(str, parts)))
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
         "reported_records": r["records"], "source": r["describe"]["producer"], "stats": r["stats"],
         **({"error": r["error"]} if r["error"] else {})}
        for r in results
    ]
    total = sum(r["records"] for r in results)
    assert bin_path.stat().st_size == total * RECORD_SIZE
    manifest = closed_manifest(
        run_id=run_id, mode="cli", created_at=created, source=results[0]["describe"]["run"], producers=producers,
        records=total, checksum=f"{crc:08x}",
        config={"workers": workers, "source": {"source": source, "params": params, "seed": seed}, "pace": "max",
                "durationS": 0},
        status="error" if any(r["error"] for r in results) else "closed",
    )
    man_path = out / f"{run_id}.manifest.json"
    man_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return bin_path, man_path
