"""Columnar record packing: whole columns in, interleaved 10-byte records out.

The hot path never builds a Python object per record: each column is an
``array.array`` and every byte lane of every field is copied with one
extended-slice assignment (C speed), e.g. ``out[4::10] = vehicle_bytes[0::2]``.
"""

from __future__ import annotations

import struct
import sys
from array import array

from .record import BUFFER_BYTES, COLUMNS, FIELDS, RECORD_SIZE, RECORDS_PER_BUFFER

_TYPECODES = {1: "B", 2: "H", 4: "I" if array("I").itemsize == 4 else "L"}
_TIME_AT = next(f.offset for f in FIELDS if f.name == "time_ms")
_TIME = struct.Struct("<I")
PARTIAL_AFTER_MS = 1000
# typecode of each column, in COLUMNS order (time, vehicle, edge, status)
TYPECODES: tuple[str, ...] = tuple(_TYPECODES[f.size] for f in COLUMNS)


def new_columns() -> tuple[array, ...]:
    """Empty columns of the right machine types, to be extended by an event source."""
    return tuple(array(tc) for tc in TYPECODES)


def pack_columns(*columns: array) -> bytearray:
    """Interleave equal-length columns (time, vehicle, edge, status) into records."""
    if len(columns) != len(COLUMNS):
        raise TypeError(f"expected {len(COLUMNS)} columns, got {len(columns)}")
    n = len(columns[0])
    out = bytearray(n * RECORD_SIZE)
    for field, col, tc in zip(COLUMNS, columns, TYPECODES):
        if len(col) != n:
            raise ValueError(f"column {field.name} has {len(col)} values, expected {n}")
        if col.typecode != tc:
            col = array(tc, col)  # also range-checks the values
        if sys.byteorder != "little" and field.size > 1:
            col = array(tc, col)
            col.byteswap()
        raw = col.tobytes()
        for lane in range(field.size):
            out[field.offset + lane :: RECORD_SIZE] = raw[lane :: field.size]
    return out


def packed_batches(source, min_records: int):
    """Drain an event source (see ``vpslog.loadgen``), yielding each batch packed."""
    while (cols := source.next_batch(min_records)) is not None:
        yield pack_columns(*cols)


class BufferBatcher:
    """Collects packed records and releases them as whole 409-record buffers.

    A record never straddles two buffers. At full pace at most one partial buffer
    is held; at real-time pace also the records not due yet (one model step's).
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self.records_out = 0

    @property
    def pending_records(self) -> int:
        return len(self._pending) // RECORD_SIZE

    def add(self, packed) -> None:
        if len(packed) % RECORD_SIZE:
            raise ValueError(f"{len(packed)} bytes is not whole records")
        self._pending += packed

    def full_buffers(self) -> int:
        return len(self._pending) // BUFFER_BYTES

    def take(self, max_buffers: int, until_ms: int = -1) -> bytes:
        """Up to ``max_buffers`` whole buffers, concatenated (len is a multiple of 4090).

        With ``until_ms`` >= 0 (real-time pace: a record leaves once the clock has
        reached it) only buffers whose last record is due; and when no whole buffer
        is but records have waited ``PARTIAL_AFTER_MS``, the due ones leave in one
        partial buffer, so a sparse run reaches the logger within a second."""
        n = min(max_buffers, self.full_buffers())
        if until_ms < 0:
            return self._cut(n * BUFFER_BYTES)
        while n and self._time(n * RECORDS_PER_BUFFER - 1) > until_ms:
            n -= 1
        if n or not self._pending or self._time(0) > until_ms - PARTIAL_AFTER_MS:
            return self._cut(n * BUFFER_BYTES)
        # the leading records that are due (a model logs in time order)
        lo, hi = 1, min(self.pending_records, RECORDS_PER_BUFFER)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self._time(mid - 1) <= until_ms else (lo, mid - 1)
        return self._cut(lo * RECORD_SIZE)

    def _time(self, i: int) -> int:
        return _TIME.unpack_from(self._pending, i * RECORD_SIZE + _TIME_AT)[0]

    def flush(self) -> bytes:
        """Everything pending, including the final partial buffer."""
        return self._cut(len(self._pending))

    def _cut(self, n: int) -> bytes:
        out = bytes(self._pending[:n])
        del self._pending[:n]
        self.records_out += n // RECORD_SIZE
        return out
