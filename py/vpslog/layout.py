"""Record layouts of every stream, built-in or declared, read from ``layouts.json``.

A layout is a stream name and ordered fields, each a name and a fixed-width
little-endian type. Rows are *packed*: each field starts where the previous one
ends and a record is exactly the sum of its fields (no alignment padding), as
the original 10-byte events record is. Records sit back to back in buffers and
files at any offset, so alignment inside a record would buy nothing a reader
can rely on, while padding would cost bytes on disk and on the wire; numpy,
Arrow, ``struct`` and ``DataView`` all read unaligned fields.

Every stream's first field is ``time_ms`` (uint32, ms since the run began): it
paces real-time runs, orders a stream, and gives each stream its time range.

``workers/layout.js`` resolves the same JSON the same way;
``tests/web/test_cross_language.py`` proves both write the same bytes for every type.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from importlib import resources

SPEC: dict = json.loads(resources.files(__package__).joinpath("layouts.json").read_text(encoding="utf-8"))
BUFFER_BYTES: int = SPEC["buffer_bytes"]
MAX_STREAMS: int = SPEC["max_streams"]
TIME_FIELD: tuple[str, str] = (SPEC["time_field"]["name"], SPEC["time_field"]["type"])
_NAME = re.compile(SPEC["name_pattern"])
_RESERVED = frozenset(SPEC["reserved_names"])
# type -> (struct code, array typecode or None, numpy dtype); sizes come from the JSON
_CODES = {
    "uint8": ("B", "B", "u1"), "uint16": ("H", "H", "<u2"), "uint32": ("I", "I", "<u4"), "uint64": ("Q", "Q", "<u8"),
    "int8": ("b", "b", "i1"), "int16": ("h", "h", "<i2"), "int32": ("i", "i", "<i4"), "int64": ("q", "q", "<i8"),
    "float32": ("f", "f", "<f4"), "float64": ("d", "d", "<f8"),
}
TYPES: dict[str, int] = dict(SPEC["types"])
assert set(TYPES) == set(_CODES), "layouts.json and layout.py name different types"


def _q(value) -> str:
    """A value in a message, quoted as JSON.stringify quotes it (JS gives the same messages)."""
    return json.dumps(value, separators=(",", ":"), default=repr)


class LayoutError(ValueError):
    """A declaration that is not a valid stream layout; the message names the stream and field."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    offset: int

    @property
    def size(self) -> int:
        return TYPES[self.type]

    @property
    def struct_code(self) -> str:
        return _CODES[self.type][0]

    @property
    def typecode(self) -> str:
        return _CODES[self.type][1]

    @property
    def is_float(self) -> bool:
        return self.type.startswith("float")

    @property
    def range(self) -> tuple[int, int] | None:
        """The integers this field holds, or None for a float."""
        if self.is_float:
            return None
        bits = 8 * self.size
        return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if self.type.startswith("int") else (0, (1 << bits) - 1)


@dataclass(frozen=True)
class Layout:
    """One stream's records: resolved offsets, size and how many fit a buffer."""

    name: str
    fields: tuple[Field, ...]
    enums: dict

    @property
    def record_size(self) -> int:
        return sum(f.size for f in self.fields)

    @property
    def records_per_buffer(self) -> int:
        return BUFFER_BYTES // self.record_size

    @property
    def buffer_bytes(self) -> int:
        return self.records_per_buffer * self.record_size

    @property
    def struct(self) -> struct.Struct:
        return struct.Struct("<" + "".join(f.struct_code for f in self.fields))

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"stream {self.name} has no field {_q(name)} (fields: {', '.join(f.name for f in self.fields)})")

    def to_json(self) -> dict:
        """The resolved form a manifest keeps: enough to read the stream's file with no other knowledge."""
        return {"name": self.name, "byte_order": "little", "record_size": self.record_size,
                "records_per_buffer": self.records_per_buffer, "time_unit": SPEC["time_unit"],
                "fields": [{"name": f.name, "type": f.type, "offset": f.offset} for f in self.fields],
                "enums": self.enums}

    def numpy_dtype(self):
        """The record as a numpy structured dtype (CPython side only)."""
        import numpy as np

        return np.dtype({"names": [f.name for f in self.fields], "formats": [_CODES[f.type][2] for f in self.fields],
                         "offsets": [f.offset for f in self.fields], "itemsize": self.record_size})


def _fields_of(name: str, fields) -> list[tuple[str, str]]:
    """Declared fields as (name, type) pairs: from pairs, ``{"name", "type"}`` dicts or a ``{name: type}`` dict."""
    if isinstance(fields, dict):
        fields = list(fields.items())
    if not isinstance(fields, (list, tuple)) or not fields:
        raise LayoutError(f"stream {name}: fields must be a non-empty list of (name, type), got {_q(fields)}")
    out = []
    for i, f in enumerate(fields):
        if isinstance(f, dict):
            f = (f.get("name"), f.get("type"))
        if not (isinstance(f, (list, tuple)) and len(f) == 2):
            raise LayoutError(f"stream {name}: field {i} must be a (name, type) pair, got {_q(f)}")
        out.append(tuple(f))
    return out


def resolve(name, fields, enums=None) -> Layout:
    """A layout from a declaration, checked: the name, each field's name and type, the
    leading ``time_ms`` field, and a record no larger than a buffer."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise LayoutError(f"stream name {_q(name)} is invalid: it must match {SPEC['name_pattern']}")
    resolved, offset, seen = [], 0, set()
    for fname, ftype in _fields_of(name, fields):
        if not isinstance(fname, str) or not _NAME.match(fname):
            raise LayoutError(f"stream {name}: field name {_q(fname)} is invalid: it must match {SPEC['name_pattern']}")
        if fname in seen:
            raise LayoutError(f"stream {name}: field {fname} is declared twice")
        if ftype not in TYPES:
            raise LayoutError(f"stream {name}: field {fname} has type {_q(ftype)}; the types are {', '.join(TYPES)}")
        seen.add(fname)
        resolved.append(Field(fname, ftype, offset))
        offset += TYPES[ftype]
    if (resolved[0].name, resolved[0].type) != TIME_FIELD:
        raise LayoutError(f"stream {name}: the first field must be {TIME_FIELD[0]} ({TIME_FIELD[1]}), "
                          f"got {resolved[0].name} ({resolved[0].type})")
    if offset > BUFFER_BYTES:
        raise LayoutError(f"stream {name}: a record of {offset} bytes is larger than a {BUFFER_BYTES}-byte buffer")
    enums = _checked_enums(name, enums or {}, resolved)
    return Layout(name, tuple(resolved), enums)


def _checked_enums(name: str, enums, fields) -> dict:
    if not isinstance(enums, dict):
        raise LayoutError(f"stream {name}: enums must be {{field: {{label: value}}}}, got {_q(enums)}")
    by_name = {f.name: f for f in fields}
    for fname, labels in enums.items():
        f = by_name.get(fname)
        if f is None or f.is_float:
            raise LayoutError(f"stream {name}: enum {_q(fname)} does not name an integer field")
        lo, hi = f.range
        if not isinstance(labels, dict) or not labels or not all(
                isinstance(k, str) and type(v) is int and lo <= v <= hi for k, v in labels.items()):
            raise LayoutError(f"stream {name}: enum {fname} must map labels to values within {lo}..{hi}, got {_q(labels)}")
    return {k: dict(v) for k, v in enums.items()}


def from_json(d: dict) -> Layout:
    """The layout a manifest recorded, checked against the packing rule (a hand edit that
    shifts a field would misread every record after it)."""
    try:
        layout = resolve(d["name"], [(f["name"], f["type"]) for f in d["fields"]], d.get("enums"))
    except (KeyError, TypeError) as e:
        raise LayoutError(f"not a stream layout ({e!r}): {_q(d)}") from None
    if [f["offset"] for f in d["fields"]] != [f.offset for f in layout.fields] or d.get("record_size") != layout.record_size:
        raise LayoutError(f"stream {layout.name}: recorded offsets or record size are not the packed layout of its fields")
    return layout


def stream_file(run_id: str, stream: str) -> str:
    """A stream's file (docs/streams.md): events keep ``<runId>.bin``, every other stream
    ``<runId>.<stream>.bin``, in OPFS, from ``vpslog simulate`` and from ``vpslog fetch`` alike."""
    return f"{run_id}.bin" if stream == "events" else f"{run_id}.{stream}.bin"


BUILTIN: dict[str, Layout] = {n: resolve(n, d["fields"], d.get("enums")) for n, d in SPEC["builtin"].items()}
EVENTS, EVENTS_WIDE = BUILTIN["events"], BUILTIN["events_wide"]


def declare_streams(declared) -> tuple[Layout, ...]:
    """A source's declared streams, checked as a set: no built-in or reserved name, no
    name twice, and at most ``MAX_STREAMS`` streams in a run, the built-in ones included."""
    layouts = []
    for d in declared or ():
        layout = d if isinstance(d, Layout) else resolve(d["name"], d["fields"], d.get("enums")) if isinstance(d, dict) else None
        if layout is None:
            raise LayoutError(f"a stream declaration must be vpslog.Stream(...) or a dict, got {_q(d)}")
        if layout.name in BUILTIN or layout.name in _RESERVED:
            raise LayoutError(f"stream name {layout.name} is reserved ({', '.join(sorted({*BUILTIN, *_RESERVED}))})")
        if any(x.name == layout.name for x in layouts):
            raise LayoutError(f"stream {layout.name} is declared twice")
        layouts.append(layout)
    if len(layouts) > MAX_STREAMS - len(BUILTIN):
        raise LayoutError(f"{len(layouts)} streams declared: a run holds at most {MAX_STREAMS} streams, "
                          f"{len(BUILTIN)} of them built in ({', '.join(BUILTIN)}), so {MAX_STREAMS - len(BUILTIN)} declared")
    return tuple(layouts)
