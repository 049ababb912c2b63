"""Logging to one stream: ``log.<stream>(...)`` per record, ``log.<stream>.extend(...)`` columnar.

Both write packed records (``vpslog.layout``) straight into the stream's
pending bytes, and both check every value first: a record or a column set that
does not fit its layout raises ``ValueError`` naming the stream, the field and
the value, and leaves the stream as it was (the records before it stay).

Values: integer fields take integers (``bool`` and numpy integers too, never a
float) within the type's range; float fields take real numbers (``int`` too).
NaN and ±inf are stored as given (IEEE 754); a finite value beyond float32's
range is refused rather than stored as inf. float32 rounds to nearest.
"""

from __future__ import annotations

import keyword
import operator
import struct
from array import array

from .layout import Layout
from .packer import interleave

_ERRORS = (struct.error, OverflowError, TypeError)
_F32 = struct.Struct("<f")
_INF32 = (_F32.pack(float("inf")), _F32.pack(float("-inf")))
# Buffer formats by kind, for copying a same-typed buffer's bytes as they are.
_KIND = {**dict.fromkeys("BHILQN", "u"), **dict.fromkeys("bhilqn", "i"), **dict.fromkeys("fd", "f")}  # as type[0]


class StreamBuffer:
    """One stream's records, packed, waiting for the bridge to take them."""

    __slots__ = ("layout", "data", "size")

    def __init__(self, layout: Layout) -> None:
        self.layout, self.data, self.size = layout, bytearray(), layout.record_size

    @property
    def pending_records(self) -> int:
        return len(self.data) // self.size

    @property
    def last_time_ms(self) -> int | None:
        d = self.data
        return int.from_bytes(d[len(d) - self.size:][:4], "little") if d else None

    def take(self) -> bytes:
        out = bytes(self.data)
        self.data.clear()
        return out


def _param(name: str) -> str:
    return name + "_" if keyword.iskeyword(name) else name


def per_record(buf: StreamBuffer, fixed: tuple = (), name: str | None = None):
    """The per-record function of ``buf``'s stream: one call packs and appends one record.

    It is generated with one named parameter per field (``fixed`` values fill the
    last fields): a call then costs one Python frame, one ``struct.pack`` and one
    ``bytearray.extend`` (about half the cost of a ``*values`` signature), a
    missing or extra value gets Python's own message naming the field, and the
    fields may be passed by name."""
    layout = buf.layout
    params = [_param(f.name) for f in layout.fields[:len(layout.fields) - len(fixed)]]
    args = ", ".join(params + [repr(v) for v in fixed])
    code = (f"def record({', '.join(params)}):\n"
            f"    try:\n        _extend(_pack({args}))\n"
            f"    except _ERRORS:\n        raise _refusal(_layout, ({args},)) from None\n")
    scope = {"_extend": buf.data.extend, "_pack": layout.struct.pack, "_ERRORS": _ERRORS,
             "_refusal": refusal, "_layout": layout}
    exec(code, scope)  # noqa: S102 - the text is built from checked field names only
    fn = scope["record"]
    fn.__name__, fn.__qualname__ = name or layout.name, f"log.{name or layout.name}"
    return fn


def refusal(layout: Layout, values) -> ValueError:
    """Why ``values`` is not a record of ``layout``: the first bad field and value."""
    for f, v in zip(layout.fields, values):
        why = value_problem(f, v)
        if why:
            return ValueError(f"stream {layout.name}, field {f.name}: {why} "
                              f"(record {', '.join(f'{g.name}={x!r}' for g, x in zip(layout.fields, values))})")
    try:
        layout.struct.pack(*values)
    except _ERRORS as e:
        return ValueError(f"stream {layout.name}: record {values!r} does not pack: {e}")
    return ValueError(f"stream {layout.name}: record {values!r} was refused")  # pragma: no cover


def value_problem(f, v) -> str | None:
    """What is wrong with ``v`` for field ``f``, or None."""
    if f.is_float:
        if isinstance(v, (str, bytes, complex)) or not hasattr(type(v), "__float__"):
            return f"{v!r} is not a real number"
        if f.type == "float32":
            try:
                _F32.pack(v)
            except OverflowError:
                return f"{v!r} is beyond the float32 range (±3.4028235e38)"
        return None
    if isinstance(v, float) or not hasattr(type(v), "__index__"):
        return f"{v!r} is not an integer"
    lo, hi = f.range
    if not lo <= operator.index(v) <= hi:
        return f"{v!r} is outside {lo}..{hi}"
    return None


def column(layout: Layout, f, values) -> array:
    """``values`` as an ``array`` of ``f``'s type, every value checked (any problem names
    the stream, field, index and value). Buffers of the same kind and width are copied as bytes."""
    tc = f.typecode
    if isinstance(values, array) and values.typecode == tc:
        return values
    try:
        mv = memoryview(values)
    except TypeError:
        mv = None
    # native-order buffers only: an explicit '<' or '>' format goes through values
    if mv is not None and mv.ndim == 1 and _KIND.get(mv.format.lstrip("@=")) == f.type[0] and mv.itemsize == f.size:
        col = array(tc)
        col.frombytes(mv.tobytes())
        return col
    try:
        col = array(tc, values if mv is None else mv.tolist())
    except _ERRORS:
        col = None
    # array('f') stores a finite float32 overflow as inf: look for inf bytes, then check exactly
    if col is not None and not (f.type == "float32" and any(x in col.tobytes() for x in _INF32)):
        return col
    for i, v in enumerate(values if mv is None else mv.tolist()):
        why = value_problem(f, v)
        if why:
            raise ValueError(f"stream {layout.name}, field {f.name}, value {i}: {why}")
    return col



def per_columns(buf: StreamBuffer, fields=None, check=None, name: str | None = None):
    """The columnar ``extend(*columns)`` / ``extend(**columns)`` of ``buf``'s stream, for
    ``fields`` (default: all); ``check(arrays)`` may refuse more before anything is written."""
    layout = buf.layout
    fields = tuple(fields or layout.fields)
    names = [f.name for f in fields]
    size = layout.record_size

    def extend(*columns, **named):
        if named:
            if columns or set(named) != set(names):
                raise ValueError(f"stream {layout.name}: extend takes one column per field, all by position or all by"
                                 f" name ({', '.join(names)}); got {len(columns)} by position and {', '.join(named)}")
            columns = [named[n] for n in names]
        if len(columns) != len(fields):
            raise ValueError(f"stream {layout.name}: extend takes {len(fields)} columns ({', '.join(names)}),"
                             f" got {len(columns)}")
        cols = [column(layout, f, c) for f, c in zip(fields, columns)]
        n = len(cols[0])
        for f, c in zip(fields, cols):
            if len(c) != n:
                raise ValueError(f"stream {layout.name}: column {f.name} has {len(c)} values, {names[0]} has {n}")
        if check:
            check(cols)
        data = buf.data
        start = len(data)
        data += bytes(n * size)
        interleave(data, start, size, fields, cols)

    extend.__qualname__ = f"log.{name or layout.name}.extend"
    return extend
