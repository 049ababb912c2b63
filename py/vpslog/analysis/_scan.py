"""Splitting a run into edge partitions.

Everything the analysis needs about an edge (occupancy, pairing) lives in that
edge's own records, so a run is split, block by block in log order, into K
partitions by ``edge_id % K`` (a stable split: each partition keeps log order).
Partitions are then analysed independently, one after another (the split
pieces of a large run wait in temporary column files, so memory is about one
block plus one partition; a smaller run's wait in memory). On Dask the
partitions are dealt into groups (k mod G), one task each, that read every block
and keep their own edges' records: memory per worker stays that of one group
task, whatever the run's size. Every path concatenates a partition's pieces in
block order, so they analyse identical partitions.

Partitions of ~2 M records: smaller ones are faster in themselves (the sorts
and the polars group-bys stay in cache), and a 1 GB run still has only ~50.

A run's events are the ``events`` stream (16-bit ids) or, for a wide-id source,
``events_wide`` (32-bit ids): the columns keep the stream's own dtypes, so no id
is ever narrowed.
"""

from __future__ import annotations

import functools
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..layout import Layout
from ..record import Status

PARTITION_RECORDS = 2 << 20
SPILL_ABOVE_RECORDS = 16 << 20  # in-process, larger runs wait in temporary files, not in memory
MAX_PARTITIONS = 1 << 16  # partition ids are uint16 (numpy radix-sorts 16-bit keys)
_KNOWN = np.zeros(256, bool)  # by status byte: a lookup costs half of np.isin
_KNOWN[[s.value for s in Status]] = True
COLUMNS = ("time_ms", "vehicle_id", "edge_id", "status")


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
    def concat(cls, pieces: list["Partition"]) -> "Partition":
        if len(pieces) == 1:
            return pieces[0]
        return cls(*(np.concatenate([getattr(p, f) for p in pieces]) for f in cls.__dataclass_fields__))


def partition_count(records: int) -> int:
    return min(MAX_PARTITIONS, max(1, -(-records // PARTITION_RECORDS)))


def group_partitions(k_total: int, group: tuple[int, int]) -> range:
    """Partitions of ``group`` (g, G): k = g, g + G, g + 2G, ... (all K for (0, 1))."""
    return range(group[0], k_total, group[1])


def split(raw: bytes, start: int, k_total: int, group: tuple[int, int], layout: Layout) -> list[Partition]:
    """A block of raw records of ``layout`` (starting at record ``start``), checked and split into
    the pieces of ``group``'s partitions (see ``group_partitions``); the other records are dropped."""
    chunk = np.frombuffer(raw, dtype=layout.numpy_dtype(), count=len(raw) // layout.record_size)
    # columns first: gathers of strided record fields cost ~4x those of contiguous ones
    cols = [np.ascontiguousarray(chunk[c]) for c in COLUMNS]
    # every record, whichever are kept: the same error on every path
    _check(cols[3], chunk["pad"] if "pad" in chunk.dtype.names else None, start, layout.name)
    n_parts = len(group_partitions(k_total, group))
    if k_total == 1:
        return [_tracked(Partition(*cols))]
    pid = _piece_of_edges(cols[2], k_total, *group)
    order = np.argsort(pid, kind="stable")  # radix sort; keeps log order within a partition
    bounds = np.r_[0, np.cumsum(np.bincount(pid, minlength=n_parts + 1))]
    cols = [col[order[:bounds[n_parts]]] for col in cols]  # the other groups' records last, dropped
    return [_tracked(Partition(*(col[bounds[j]:bounds[j + 1]] for col in cols))) for j in range(n_parts)]


def _piece_of_edges(edge: np.ndarray, k_total: int, g: int, n_groups: int) -> np.ndarray:
    """By row: the index of its edge's partition (edge % K) among group g's, or the group's
    partition count for another group's edge. 16-bit ids are looked up (a quarter of the
    modulo's cost); 32-bit ids, too many for a table, are computed."""
    if edge.dtype.itemsize <= 2:
        return _piece_table(k_total, g, n_groups)[edge]
    return _piece_ids(edge % np.uint32(k_total), k_total, g, n_groups)


@functools.lru_cache(maxsize=8)
def _piece_table(k_total: int, g: int, n_groups: int) -> np.ndarray:
    return _piece_ids(np.arange(1 << 16) % k_total, k_total, g, n_groups)


def _piece_ids(k: np.ndarray, k_total: int, g: int, n_groups: int) -> np.ndarray:
    return np.where(k % n_groups == g, k // n_groups, len(range(g, k_total, n_groups))).astype(np.uint16)


_pieces_lock = threading.Lock()
_pieces = {"alive": 0, "peak": 0}  # split pieces alive in this process: now, and at most since reset


def _tracked(piece: Partition) -> Partition:
    with _pieces_lock:
        _pieces["alive"] += 1
        _pieces["peak"] = max(_pieces["peak"], _pieces["alive"])
    weakref.finalize(piece, _released)
    return piece


def _released() -> None:
    with _pieces_lock:
        _pieces["alive"] -= 1


def peak_pieces(reset: bool = False) -> int:
    """The most split pieces alive at once in this process (since the last reset): the test of
    the memory bound reads it on the workers. Holding every piece of a run scales with its blocks."""
    with _pieces_lock:
        peak = _pieces["peak"]
        if reset:
            _pieces["peak"] = _pieces["alive"]
    return peak


def spilled(blocks, n_parts: int, in_memory: bool, layout: Layout):
    """Whole partitions, in order, from an iterable of split blocks (each a list of ``n_parts`` pieces
    of ``layout``'s records). The pieces wait in memory, or (``in_memory`` false: large runs) in
    temporary column files."""
    fields = list(Partition.__dataclass_fields__)
    dtypes = dict(zip(fields, (layout.numpy_dtype()[c] for c in COLUMNS)))
    if n_parts == 1 or in_memory:
        pieces = [[] for _ in range(n_parts)]
        for block in blocks:
            for k, piece in enumerate(block):
                pieces[k].append(piece)
        for k in range(n_parts):
            yield Partition.concat(pieces[k] or [Partition(*(np.empty(0, dtypes[f]) for f in fields))])
            pieces[k] = None
        return
    with tempfile.TemporaryDirectory(prefix="vpslog-analyze-") as tmp:
        # one file per partition and column: typed gathers are cheap, 10-byte record gathers are not
        paths = {(k, f): Path(tmp) / f"p{k}.{f}" for k in range(n_parts) for f in fields}
        files = {key: open(p, "wb") for key, p in paths.items()}
        try:
            for block in blocks:
                for k, piece in enumerate(block):
                    for f in fields:
                        getattr(piece, f).tofile(files[k, f])
        finally:
            for f in files.values():
                f.close()
        for k in range(n_parts):
            cols = [np.fromfile(paths[k, f], dtype=dtypes[f]) for f in fields]
            for f in fields:
                paths[k, f].unlink()
            yield Partition(*cols)
            del cols


def _check(status, pad, start: int, stream: str) -> None:
    """Known statuses, and a zero pad byte where the layout has one (events_wide has none)."""
    bad = ~_KNOWN[status] if pad is None else ~_KNOWN[status] | (pad != 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        pad_text = "" if pad is None else f", pad {int(pad[first])}"
        raise AnalysisError(
            f"corrupt record {start + first} of stream {stream} (status {int(status[first])}{pad_text});"
            f" {int(bad.sum())} bad record(s) in this block — run `vpslog verify` for details"
        )
