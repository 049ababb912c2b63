"""``vpslog simulate``: any event source, natively (CPython), as the browser runs it.

Each worker's part runs in its own process (parts share nothing, as in the
browser) and drives the very :class:`vpslog.bridge.Producer` the sim worker
drives, streaming each stream's whole buffers to a part file of its own; each
stream's parts are then appended into its run file (``<runId>.bin`` for events,
``<runId>.<stream>.bin`` for the others) with a CRC32C, and the manifest is
written in the logger's format, so ``verify`` and ``analyze`` cannot tell the two apart.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import registry
from .bridge import Producer, segments
from .layout import stream_file
from .manifest import _iso_now, closed_manifest, new_run_id, stream_entry
from .source import Part

BUFFERS_PER_CALL = 64


def _run_part(spec: str, params: dict, part: Part, code: dict | None, part_path: str) -> dict:
    producer = Producer(spec, params, part, code)
    files = [open(f"{part_path}.{i}", "wb") for i in range(len(producer.streams))]
    try:
        while not producer.exhausted:
            for i, data in segments(producer.produce(BUFFERS_PER_CALL, budget_ms=1000)):
                files[i].write(data)
        for i, data in segments(producer.flush()):
            files[i].write(data)
    finally:
        for f in files:
            f.close()
    return {"worker": part.worker, "records": producer.stats["streams"], "describe": producer.describe(),
            "stats": producer.stats, "error": producer.error}


def provenance(spec: str) -> dict | None:
    """File name, version and sha256 of a user's model file, for the manifest."""
    path = spec.rpartition(":")[0] if ":" in spec else spec
    if not path.endswith(".py"):
        return None
    return {**registry.code_provenance(path), "version": str(registry.resolve(spec).version)}


def _append(parts: list[Path], dst: Path) -> str:
    """The parts, in order, into ``dst``; their CRC32C."""
    import crc32c

    crc = 0
    with dst.open("wb") as out:
        for p in parts:
            with p.open("rb") as src:
                while block := src.read(1 << 20):
                    crc = crc32c.crc32c(block, crc)
                    out.write(block)
    return f"{crc:08x}"


def simulate(out_dir, source: str = "traffic", params: dict | None = None, workers: int = 1, seed: int = 1,
             processes: int | None = None) -> tuple[Path, Path]:
    """Run ``source`` (a registry spec) with ``params`` as ``workers`` parts; returns (events bin, manifest)."""
    from .layout import from_json

    params = registry.resolve(source).resolve_params(params or {})  # refuse bad input before any process starts
    code = provenance(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    created = _iso_now()
    parts = [out / f".{run_id}.part{w}" for w in range(workers)]
    entries = []
    try:
        with ProcessPoolExecutor(max_workers=processes or min(workers, os.cpu_count() or 1)) as pool:
            results = list(pool.map(_run_part, [source] * workers, [params] * workers,
                                    [Part(w, workers, seed) for w in range(workers)], [code] * workers, map(str, parts)))
        for i, d in enumerate(results[0]["describe"]["run"]["streams"]):
            layout = from_json(d)
            counts = {r["worker"]: r["records"][layout.name] for r in results}
            path = out / stream_file(run_id, layout.name)
            crc = _append([Path(f"{p}.{i}") for p in parts], path)
            assert path.stat().st_size == sum(counts.values()) * layout.record_size
            entries.append(stream_entry(layout, path.name, sum(counts.values()), crc, counts))
    finally:
        for p in out.glob(f".{run_id}.part*"):
            p.unlink()
    events = entries[0]
    producers = [
        {"id": r["worker"], "records": r["records"]["events"], "buffers": -(-r["records"]["events"] // events["layout"]["records_per_buffer"]),
         "reported_records": r["records"]["events"], "source": r["describe"]["producer"], "stats": r["stats"],
         **({"error": r["error"]} if r["error"] else {})}
        for r in results
    ]
    manifest = closed_manifest(
        run_id=run_id, mode="cli", created_at=created, source=results[0]["describe"]["run"], producers=producers,
        records=events["records"], checksum=events["checksum"]["value"], streams=entries,
        config={"workers": workers, "source": {"source": source, "params": params, "seed": seed}, "pace": "max",
                "durationS": 0},
        status="error" if any(r["error"] for r in results) else "closed",
    )
    man_path = out / f"{run_id}.manifest.json"
    man_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return out / events["file"], man_path
