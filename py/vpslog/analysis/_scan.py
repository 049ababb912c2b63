"""Reading a run file in edge partitions with bounded memory.

Everything the analysis needs about an edge (occupancy, pairing) lives in that
edge's own records, so the file is processed one partition of edges at a time:
each pass maps the file chunk by chunk and keeps only the rows of its edges.
Memory is about one partition, whatever the file size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..record import RECORD_SIZE, Status, numpy_dtype

CHUNK_RECORDS = 4 << 20
PARTITION_RECORDS = 16 << 20
KNOWN_STATUS = np.array(sorted(s.value for s in Status), dtype=np.uint8)


class AnalysisError(ValueError):
    pass


@dataclass
class Partition:
    idx: np.ndarray      # global record index (log order)
    time_ms: np.ndarray
    vehicle: np.ndarray
    edge: np.ndarray
    status: np.ndarray


def record_count(path: Path) -> int:
    size = path.stat().st_size
    if size % RECORD_SIZE:
        raise AnalysisError(f"{path}: size {size} is not a multiple of {RECORD_SIZE} (truncated or not a run file)")
    return size // RECORD_SIZE


def partitions(path: Path, n: int):
    """Yield (k, K, Partition) for K edge partitions; raises AnalysisError on corrupt records."""
    k_total = max(1, -(-n // PARTITION_RECORDS))
    dtype = numpy_dtype()
    for k in range(k_total):
        parts = []
        for start in range(0, n, CHUNK_RECORDS):
            count = min(CHUNK_RECORDS, n - start)
            chunk = np.memmap(path, dtype=dtype, mode="r", offset=start * RECORD_SIZE, shape=(count,))
            if k == 0:
                _check(chunk, start)
            edge = chunk["edge_id"]
            sel = np.flatnonzero(edge % k_total == k) if k_total > 1 else np.arange(count)
            parts.append(Partition(
                idx=sel.astype(np.uint64) + start,
                time_ms=np.asarray(chunk["time_ms"][sel]),
                vehicle=np.asarray(chunk["vehicle_id"][sel]),
                edge=np.asarray(edge[sel]),
                status=np.asarray(chunk["status"][sel]),
            ))
            del chunk, edge
        yield k, k_total, Partition(*(np.concatenate([getattr(p, f) for p in parts]) if parts else np.empty(0)
                                      for f in Partition.__dataclass_fields__))


def _check(chunk, start: int) -> None:
    bad = ~np.isin(chunk["status"], KNOWN_STATUS) | (chunk["pad"] != 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise AnalysisError(
            f"corrupt record {start + first} (status {int(chunk['status'][first])}, pad {int(chunk['pad'][first])});"
            f" {int(bad.sum())} bad record(s) in this chunk — run `vpslog verify` for details"
        )
