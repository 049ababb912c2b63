"""The built-in 10-byte events record: the ``events`` layout of ``layouts.json``.

``layouts.json`` is the single definition of every record layout: this module,
the columnar packer and the JS workers (``workers/record.js``, ``workers/layout.js``)
all derive their offsets from it, and ``tests/web/test_cross_language.py`` proves
the two languages agree byte for byte. ``LAYOUT`` keeps the shape the manifests'
``record_layout`` has always had, so a downloaded ``.bin`` and its manifest read
as they did before streams existed.
"""

from __future__ import annotations

import enum

from .layout import EVENTS, SPEC, Field

FIELDS: tuple[Field, ...] = EVENTS.fields
RECORD_SIZE: int = EVENTS.record_size
RECORDS_PER_BUFFER: int = EVENTS.records_per_buffer
BUFFER_BYTES: int = EVENTS.buffer_bytes
TIME_UNIT: str = SPEC["time_unit"]
FORMAT_VERSION = 1  # of the events record; layouts.json has its own format_version
LAYOUT: dict = {
    "format_version": FORMAT_VERSION, "byte_order": "little", "record_size": RECORD_SIZE,
    "records_per_buffer": RECORDS_PER_BUFFER, "time_unit": TIME_UNIT,
    "fields": [{"name": f.name, "type": f.type, "offset": f.offset} for f in FIELDS],
    "status": EVENTS.enums["status"],
}
# Columns the producer fills; ``pad`` is always zero and never a column.
COLUMNS: tuple[Field, ...] = tuple(f for f in FIELDS if f.name != "pad")

Status = enum.IntEnum("Status", {k.upper(): v for k, v in LAYOUT["status"].items()})

STRUCT = EVENTS.struct


def pack(records) -> bytes:
    """Pack ``(time_ms, vehicle_id, edge_id, status)`` tuples; the slow, obvious path.

    Used by tests and small tools as the reference the columnar packer is checked against.
    """
    return b"".join(STRUCT.pack(*r, 0) for r in records)


def unpack(data) -> list[tuple[int, int, int, int]]:
    """Inverse of :func:`pack`; raises ``ValueError`` on a partial record or non-zero pad."""
    if len(data) % RECORD_SIZE:
        raise ValueError(f"{len(data)} bytes is not a whole number of {RECORD_SIZE}-byte records")
    out = []
    for t, v, e, s, pad in STRUCT.iter_unpack(data):
        if pad:
            raise ValueError(f"record {len(out)}: pad byte is {pad}, must be 0")
        out.append((t, v, e, s))
    return out


def numpy_dtype():
    """The record as a numpy structured dtype (CPython analysis side only)."""
    return EVENTS.numpy_dtype()
