"""Reading a run file in edge partitions with bounded memory.

Everything the analysis needs about an edge (occupancy, pairing) lives in that
edge's own records, so a large file is split once, in one sequential pass, into
K partition files by ``edge_id % K`` (a stable split: each partition keeps log
order), and the partitions are then analysed one at a time. Memory is about one
chunk plus one partition, whatever the file size; small files are one partition.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..record import RECORD_SIZE, Status, numpy_dtype

CHUNK_RECORDS = 4 << 20
PARTITION_RECORDS = 8 << 20
KNOWN_STATUS = np.array(sorted(s.value for s in Status), dtype=np.uint8)


class AnalysisError(ValueError):
    pass


@dataclass
class Partition:
    """Records of some edges, in log order."""

    time_ms: np.ndarray
    vehicle: np.ndarray
    edge: np.ndarray
    status: np.ndarray

    @classmethod
    def of(cls, records: np.ndarray) -> "Partition":
        return cls(*(np.ascontiguousarray(records[c]) for c in COLUMNS))


def record_count(path: Path) -> int:
    size = path.stat().st_size
    if size % RECORD_SIZE:
        raise AnalysisError(f"{path}: size {size} is not a multiple of {RECORD_SIZE} (truncated or not a run file)")
    return size // RECORD_SIZE


COLUMNS = ("time_ms", "vehicle_id", "edge_id", "status")


def _chunks(path: Path, n: int):
    dtype = numpy_dtype()
    for start in range(0, n, CHUNK_RECORDS):
        # read() into a buffer: faster than faulting in an mmap, and just as bounded
        chunk = np.fromfile(path, dtype=dtype, count=min(CHUNK_RECORDS, n - start), offset=start * RECORD_SIZE)
        _check(chunk, start)
        yield chunk


def partitions(path: Path, n: int):
    """Yield Partitions covering every edge exactly once; raises AnalysisError on corrupt records."""
    k_total = max(1, -(-n // PARTITION_RECORDS))
    if k_total == 1:
        chunks = list(_chunks(path, n))
        yield Partition.of(np.concatenate(chunks) if chunks else np.empty(0, numpy_dtype()))
        return
    with tempfile.TemporaryDirectory(prefix="vpslog-analyze-") as tmp:
        # one file per partition and column: typed gathers are cheap, 10-byte record gathers are not
        files = {(k, c): open(Path(tmp) / f"p{k}.{c}", "wb") for k in range(k_total) for c in COLUMNS}
        try:
            for chunk in _chunks(path, n):
                pid = (chunk["edge_id"] % k_total).astype(np.uint8)
                order = np.argsort(pid, kind="stable")  # radix sort; keeps log order within a partition
                bounds = np.searchsorted(pid[order], np.arange(k_total + 1))
                for c in COLUMNS:
                    col = chunk[c][order]
                    for k in range(k_total):
                        files[k, c].write(col[bounds[k]:bounds[k + 1]].tobytes())
        finally:
            for f in files.values():
                f.close()
        dtypes = {c: numpy_dtype()[c] for c in COLUMNS}
        for k in range(k_total):
            cols = [np.fromfile(Path(tmp) / f"p{k}.{c}", dtype=dtypes[c]) for c in COLUMNS]
            for c in COLUMNS:
                (Path(tmp) / f"p{k}.{c}").unlink()
            yield Partition(*cols)
            del cols


def _check(chunk, start: int) -> None:
    bad = ~np.isin(chunk["status"], KNOWN_STATUS) | (chunk["pad"] != 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise AnalysisError(
            f"corrupt record {start + first} (status {int(chunk['status'][first])}, pad {int(chunk['pad'][first])});"
            f" {int(bad.sum())} bad record(s) in this chunk — run `vpslog verify` for details"
        )
