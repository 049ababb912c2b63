"""Columnar record packing: whole columns in, interleaved packed records out, for any layout.

The hot path never builds a Python object per record: each column is an
``array.array`` and every byte lane of every field is copied with one
extended-slice assignment (C speed), e.g. ``out[4::10] = vehicle_bytes[0::2]``.
(A strided ``memoryview`` assignment copies in one pass but is 2-3x slower
than this two-pass bytes route, in CPython and Pyodide alike.)
"""

from __future__ import annotations

import struct
import sys
from array import array

from .layout import EVENTS, Layout
from .record import COLUMNS, RECORD_SIZE

_TYPECODES = {1: "B", 2: "H", 4: "I" if array("I").itemsize == 4 else "L"}
_TIME = struct.Struct("<I")  # every stream's first field is its uint32 time_ms
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
    for field, col in zip(COLUMNS, columns):
        if len(col) != n:
            raise ValueError(f"column {field.name} has {len(col)} values, expected {n}")
    columns = [col if col.typecode == tc else array(tc, col) for col, tc in zip(columns, TYPECODES)]  # range-checks
    out = bytearray(n * RECORD_SIZE)
    interleave(out, 0, RECORD_SIZE, COLUMNS, columns)
    return out


def interleave(out: bytearray, start: int, record_size: int, fields, columns) -> None:
    """Write equal-length columns (``array``s of each field's type) as the records that
    begin at ``out[start]``; ``out`` already holds their bytes. Fields not given keep
    the bytes already there (the events' zero pad)."""
    for field, col in zip(fields, columns):
        if sys.byteorder != "little" and field.size > 1:
            col = array(col.typecode, col)
            col.byteswap()
        raw, size = col.tobytes(), field.size
        for lane in range(size):
            out[start + field.offset + lane :: record_size] = raw[lane::size]


def packed_batches(source, min_records: int):
    """Drain an event source (see ``vpslog.loadgen``), yielding each batch packed."""
    while (cols := source.next_batch(min_records)) is not None:
        yield pack_columns(*cols)


class BufferBatcher:
    """Collects one stream's packed records and releases them as whole buffers
    (409 events records; ``layout.records_per_buffer`` for any stream).

    A record never straddles two buffers. At full pace at most one partial buffer
    is held; at real-time pace also the records not due yet (one model step's).
    """

    def __init__(self, layout: Layout = EVENTS) -> None:
        self.layout = layout
        # kept, not derived per call: Layout computes them from its fields each time
        self.record_size, self.records_per_buffer, self.buffer_bytes = \
            layout.record_size, layout.records_per_buffer, layout.buffer_bytes
        self._pending = bytearray()
        self.records_out = 0

    @property
    def pending_records(self) -> int:
        return len(self._pending) // self.record_size

    def add(self, packed) -> None:
        if len(packed) % self.record_size:
            raise ValueError(f"stream {self.layout.name}: {len(packed)} bytes is not whole {self.record_size}-byte records")
        self._pending += packed

    def full_buffers(self) -> int:
        return len(self._pending) // self.buffer_bytes

    def due_buffers(self, until_ms: int = -1) -> int:
        """The whole buffers that may leave now: all of them at full pace, else those
        whose last record the clock has reached."""
        n = self.full_buffers()
        if until_ms >= 0:
            while n and self._time(n * self.records_per_buffer - 1) > until_ms:
                n -= 1
        return n

    def take(self, max_buffers: int, until_ms: int = -1) -> bytes:
        """Up to ``max_buffers`` whole buffers, concatenated (len is a multiple of the buffer bytes).

        With ``until_ms`` >= 0 (real-time pace: a record leaves once the clock has
        reached it) only buffers whose last record is due; and when no whole buffer
        is but records have waited ``PARTIAL_AFTER_MS``, the due ones leave in one
        partial buffer, so a sparse run reaches the logger within a second."""
        n = min(max_buffers, self.due_buffers(until_ms))
        if until_ms < 0 or n or max_buffers < 1 or not self._pending or self._time(0) > until_ms - PARTIAL_AFTER_MS:
            return self._cut(n * self.buffer_bytes)
        # the leading records that are due (a model logs in time order)
        lo, hi = 1, min(self.pending_records, self.records_per_buffer)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self._time(mid - 1) <= until_ms else (lo, mid - 1)
        return self._cut(lo * self.record_size)

    def _time(self, i: int) -> int:
        return _TIME.unpack_from(self._pending, i * self.record_size)[0]

    def flush(self) -> bytes:
        """Everything pending, including the final partial buffer."""
        return self._cut(len(self._pending))

    def _cut(self, n: int) -> bytes:
        out = bytes(self._pending[:n])
        del self._pending[:n]
        self.records_out += n // self.record_size
        return out
