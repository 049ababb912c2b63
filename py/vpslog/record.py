"""The 10-byte event record, read from ``layout.json``.

``layout.json`` is the single definition of the record: this module, the
columnar packer and the JS workers (``workers/record.js``) all derive their
offsets from it, and ``tests/web/test_cross_language.py`` proves the two
languages agree byte for byte.
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import dataclass
from importlib import resources

LAYOUT: dict = json.loads(
    resources.files(__package__).joinpath("layout.json").read_text(encoding="utf-8")
)

# layout type -> (struct code, size, numpy dtype)
_TYPES = {"uint8": ("B", 1, "u1"), "uint16": ("H", 2, "<u2"), "uint32": ("I", 4, "<u4")}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    offset: int

    @property
    def size(self) -> int:
        return _TYPES[self.type][1]

    @property
    def struct_code(self) -> str:
        return _TYPES[self.type][0]


FIELDS: tuple[Field, ...] = tuple(Field(**f) for f in LAYOUT["fields"])
FORMAT_VERSION: int = LAYOUT["format_version"]
RECORD_SIZE: int = LAYOUT["record_size"]
RECORDS_PER_BUFFER: int = LAYOUT["records_per_buffer"]
BUFFER_BYTES: int = RECORD_SIZE * RECORDS_PER_BUFFER
TIME_UNIT: str = LAYOUT["time_unit"]
# Columns the producer fills; ``pad`` is always zero and never a column.
COLUMNS: tuple[Field, ...] = tuple(f for f in FIELDS if f.name != "pad")

Status = enum.IntEnum("Status", {k.upper(): v for k, v in LAYOUT["status"].items()})

STRUCT = struct.Struct("<" + "".join(f.struct_code for f in FIELDS))


def _check_layout() -> None:
    # A hand edit of layout.json that leaves gaps or overlaps would silently
    # shift every field in one language only; refuse to import instead.
    offset = 0
    for f in FIELDS:
        if f.offset != offset:
            raise ValueError(f"layout.json: field {f.name} at {f.offset}, expected {offset}")
        offset += f.size
    if offset != RECORD_SIZE or STRUCT.size != RECORD_SIZE:
        raise ValueError(f"layout.json: fields span {offset} bytes, record_size is {RECORD_SIZE}")
    if LAYOUT["byte_order"] != "little":
        raise ValueError("layout.json: only little-endian records are supported")


_check_layout()


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
    import numpy as np

    return np.dtype(
        {
            "names": [f.name for f in FIELDS],
            "formats": [_TYPES[f.type][2] for f in FIELDS],
            "offsets": [f.offset for f in FIELDS],
            "itemsize": RECORD_SIZE,
        }
    )
