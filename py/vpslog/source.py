"""The event-source API: how any Python model, ours or yours, feeds vpslog.

A source is a class: vpslog builds one instance per sim worker and drives its
``run(log)`` generator cooperatively. The model logs events on ``log`` and
``yield``s between steps; at each yield the worker may wait for credits
(backpressure: the model simply pauses), honour Stop, or hold back to real
time. Records are packed into whole 409-record buffers: they never cross
into JavaScript one at a time.

    import vpslog

    class Shuttle(vpslog.Source):
        "One bus per worker, driving edges 0..9 and back."
        name, version = "shuttle", "1.0"
        params = {"laps": 100}

        def run(self, log):
            t, bus = 0, self.part.worker
            for lap in range(self.params["laps"]):
                for edge in range(10):
                    log.enter(t, bus, edge)
                    t += 30_000
                    log.exit(t, bus, edge)
                yield  # one step = one lap

A source may also declare record streams of its own (``streams = [vpslog.Stream(...)]``)
and log to them with ``log.<stream>(...)``; see :mod:`vpslog.streamlog` and docs/streams.md.

Everything here is standard library only, so the same code runs in Pyodide
(the browser's sim workers) and in CPython (``vpslog simulate --source``).
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass

from . import streamlog
from .layout import EVENTS, EVENTS_WIDE, Layout, declare_streams, resolve
from .packer import TYPECODES, new_columns, pack_columns
from .record import COLUMNS, Status

__all__ = ["Source", "Part", "Param", "EventLog", "Stream", "run_streams"]

_LIMITS = {f.name: (1 << (8 * f.size)) - 1 for f in COLUMNS}
_STATUSES = {int(s): s.name.lower() for s in Status}
_VALID_STATUS_BYTES = bytes(_STATUSES)
_WIDE_HINT = " (a source with more than 65,535 vehicles or edges sets wide_ids = True: 32-bit ids)"


def Stream(name: str, fields=None, /, *, enums: dict | None = None, **typed) -> Layout:  # noqa: N802 - reads as a type
    """A declared record stream, checked: ``Stream("fcd", time_ms="uint32", vehicle="uint32", x="float32")``
    (fields in keyword order) or ``Stream("fcd", [("time_ms", "uint32"), ...], enums={...})``.
    The first field is always ``time_ms`` (uint32)."""
    if fields is not None and typed:
        raise ValueError(f"stream {name}: give the fields as a list or as keywords, not both")
    return resolve(name, fields if fields is not None else list(typed.items()), enums)


def run_streams(source: "Source") -> tuple[Layout, ...]:
    """A run's streams in index order: events, events_wide if the source logs wide ids,
    then the source's declared streams (docs/streams.md)."""
    return (EVENTS, *((EVENTS_WIDE,) if source.wide_ids else ()), *declare_streams(source.declared_streams()))


@dataclass(frozen=True)
class Part:
    """Which share of the run one worker simulates: worker ``worker`` of ``workers``.

    Every worker of a run gets the same ``seed``; :meth:`rng` derives a random
    stream of this worker's own from it, so parts never repeat each other.
    """

    worker: int = 0
    workers: int = 1
    seed: int = 1

    def rng(self, salt: str = "") -> random.Random:
        return random.Random(f"vpslog-{salt}-{self.seed}-{self.worker}")

    def share(self, n: int) -> range:
        """This worker's contiguous slice of ``range(n)`` (vehicle or edge ids)."""
        return range(self.worker * n // self.workers, (self.worker + 1) * n // self.workers)


@dataclass(frozen=True)
class Param:
    """A declared parameter: its default and what the page's form shows for it."""

    default: int | float | str | bool
    doc: str = ""
    min: float | None = None
    max: float | None = None

    def check(self, name: str, value):
        kind = type(self.default)
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise ValueError(f"parameter {name} must be {kind.__name__}, got {value!r}")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ValueError(f"parameter {name} must be within {self.min}..{self.max}, got {value!r}")
        return value

    def describe(self) -> dict:
        d = {"default": self.default, "type": type(self.default).__name__, "doc": self.doc}
        return {**d, **{k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}}


class Source:
    """Base class of every event source. Override ``run``; the rest is optional.

    Class attributes:
        name, version: recorded in the run manifest (``name`` defaults to the class name).
        params: ``{name: default}`` or ``{name: Param(...)}``; the page builds its form
            from them and unknown or mistyped parameters are refused before the run.
        streams: record streams of its own, ``[vpslog.Stream(...), ...]``, logged with
            ``log.<name>(...)``; override :meth:`declared_streams` to choose them by params.
        wide_ids: True to log events with 32-bit vehicle and edge ids (the
            ``events_wide`` stream); may be a property that depends on params.

    ``self.part`` (a :class:`Part`) and ``self.params`` (validated, defaults
    filled in) are set before ``__init__`` of a subclass runs its own code.
    """

    name: str | None = None
    version: str = "0"
    params: dict = {}
    streams: list = []
    wide_ids: bool = False

    def __init__(self, part: Part, **params) -> None:
        self.part = part
        self.params = self.resolve_params(params)

    @classmethod
    def declared_params(cls) -> dict[str, Param]:
        return {k: v if isinstance(v, Param) else Param(v) for k, v in cls.params.items()}

    @classmethod
    def resolve_params(cls, given: dict) -> dict:
        declared = cls.declared_params()
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise ValueError(f"unknown parameter(s) for source {cls.source_name()}: {', '.join(unknown)}"
                             f" (declared: {', '.join(declared) or 'none'})")
        return {k: p.check(k, given[k]) if k in given else p.default for k, p in declared.items()}

    @classmethod
    def source_name(cls) -> str:
        return cls.name or cls.__name__

    @classmethod
    def declaration(cls) -> dict:
        """What the page needs to offer this source: name, version, doc and parameters."""
        return {"name": cls.source_name(), "version": str(cls.version), "doc": (cls.__doc__ or "").strip(),
                "params": {k: p.describe() for k, p in cls.declared_params().items()}}

    def declared_streams(self) -> list:
        """This instance's own streams (default: the class's ``streams``)."""
        return list(self.streams)

    def run(self, log: "EventLog"):
        """A generator: log events on ``log`` and ``yield`` between steps."""
        raise NotImplementedError(f"{type(self).__name__}.run(log) is not written")
        yield  # pragma: no cover - makes this a generator

    def edges(self) -> dict | None:
        """The edge table, or None: ``{"edge_id": [...], "free_flow_s": [...], "capacity": [...]}``
        (columns of equal length), optionally ``length_m`` and geometry ``x0, y0, x1, y1``.
        With it, ``vpslog analyze`` fits the BPR curve. Identical in every worker."""
        return None

    def describe(self) -> dict:
        """Further run-level facts for the manifest (e.g. a ground truth); identical in every worker."""
        return {}

    @property
    def stats(self) -> dict:
        """This worker's own counters, reported when it stops."""
        return {}

    def view(self) -> dict | None:
        """The model's live state for the page's view, asked for at most 10 times a
        second between steps: ``{"edges": ids, "occupancy": vehicles on each}``
        (equal-length int sequences, this worker's edges), or None. It feeds the
        map only, never the log."""
        return None


class EventLog:
    """Where a model logs its events, and its declared streams' records.

    Per event: ``log.enter(t_ms, vehicle, edge)``, ``log.exit(...)``,
    ``log.error(...)`` or ``log(t_ms, vehicle, edge, status)``.
    Columnar: ``log.extend(times, vehicles, edges, statuses)`` with lists,
    ``array.array`` or any buffer-protocol object (e.g. numpy arrays on CPython).

    A vehicle or edge outside 0..65535, a time outside 0..2**32-1 ms, a status
    other than 1, 2 or 3, or a non-integer raises ``ValueError`` naming the
    field and the value: ``extend`` at the call, keeping nothing of it; a
    per-event call at the latest when the step's events are packed, keeping
    every event logged before the bad one. Order is kept across both kinds.

    With ``wide_ids`` the same calls write ``events_wide`` records (32-bit
    vehicle and edge ids), checked at the call. A declared stream ``fcd`` is
    ``log.fcd(...)`` per record and ``log.fcd.extend(...)`` columnar (also
    ``log.stream("fcd")``), checked at the call (:mod:`vpslog.streamlog`).
    ``log.streams`` lists the run's stream layouts in index order.
    """

    __slots__ = ("enter", "exit", "error", "streams", "_log", "_rows", "_cols", "_buffers", "_wide", "__dict__")

    def __init__(self, streams: tuple[Layout, ...] = (), wide_ids: bool = False) -> None:
        self.streams = (EVENTS, *((EVENTS_WIDE,) if wide_ids else ()), *declare_streams(streams))
        self._buffers = [None] + [streamlog.StreamBuffer(layout) for layout in self.streams[1:]]
        self._cols = new_columns()
        # Per-event calls append one tuple (one C call, ~0.3 us in Pyodide);
        # the tuples become columns in bulk when the step's events are taken.
        self._rows: list[tuple] = []
        self._wide = self._wide_extend(self._buffers[1]) if wide_ids else None
        for layout, buf in zip(self.streams[1 + wide_ids:], self._buffers[1 + wide_ids:]):
            rec = streamlog.per_record(buf)
            rec.extend, rec.layout = streamlog.per_columns(buf), layout
            self.__dict__[layout.name] = rec
        if wide_ids:
            self.enter, self.exit, self.error, self._log = self._wide_calls(self._buffers[1])
            return
        app = self._rows.append
        enter, exit_, error = int(Status.ENTER), int(Status.EXIT), int(Status.ERROR)

        def log_enter(time_ms, vehicle, edge):
            app((time_ms, vehicle, edge, enter))

        def log_exit(time_ms, vehicle, edge):
            app((time_ms, vehicle, edge, exit_))

        def log_error(time_ms, vehicle, edge):
            app((time_ms, vehicle, edge, error))

        def log_any(time_ms, vehicle, edge, status):
            app((time_ms, vehicle, edge, status))

        self.enter, self.exit, self.error, self._log = log_enter, log_exit, log_error, log_any

    @staticmethod
    def _wide_calls(buf):
        """enter/exit/error/any for events_wide: the status is a constant of the first three."""
        enter, exit_, error = (streamlog.per_record(buf, (int(s),), s.name.lower()) for s in Status)
        rec = streamlog.per_record(buf)

        def log_any(time_ms, vehicle, edge, status):
            _check_value("status", status, f"stream {EVENTS_WIDE.name}: ")
            rec(time_ms, vehicle, edge, status)

        return enter, exit_, error, log_any

    @staticmethod
    def _wide_extend(buf):
        def statuses_known(cols):
            bad = cols[3].tobytes().translate(None, _VALID_STATUS_BYTES)
            if bad:
                _check_value("status", bad[0], f"stream {EVENTS_WIDE.name}: ")

        return streamlog.per_columns(buf, check=statuses_known, name="extend")

    def stream(self, name: str):
        """The per-record logger of the declared stream ``name`` (the same as ``log.<name>``)."""
        rec = self.__dict__.get(name) if isinstance(name, str) else None
        if rec is None:
            raise ValueError(f"no stream {name!r} is declared ({self._declared()})")
        return rec

    def __getattr__(self, name: str):
        # only reached when nothing else has the name: a stream the source did not declare
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"log has no stream {name!r} ({self._declared()})")

    def _declared(self) -> str:
        names = [s.name for s in self.streams if s.name in self.__dict__]
        return f"declared: {', '.join(names)}" if names else "this source declares no streams (Source.streams)"

    def __call__(self, time_ms, vehicle, edge, status) -> None:
        self._log(time_ms, vehicle, edge, status)

    def extend(self, times, vehicles, edges, statuses) -> None:
        if self._wide:
            return self._wide(times, vehicles, edges, statuses)
        cols = [_as_column(f, x) for f, x in zip(EVENTS.fields, (times, vehicles, edges, statuses))]
        n = len(cols[0])
        for f, c in zip(COLUMNS, cols):
            if len(c) != n:
                raise ValueError(f"extend: {f.name} has {len(c)} values, time_ms has {n}")
        bad = cols[3].tobytes().translate(None, _VALID_STATUS_BYTES)
        if bad:
            _check_value("status", bad[0])
        self._settle()
        for mine, c in zip(self._cols, cols):
            mine.extend(c)

    def _settle(self) -> None:
        """Move per-event rows into the columns, validated; keep the good prefix of a bad step."""
        rows = self._rows
        if not rows:
            return
        try:
            new = [array(tc, col) for tc, col in zip(TYPECODES, zip(*rows))]
            if new[3].tobytes().translate(None, _VALID_STATUS_BYTES):
                raise ValueError("status")
        except (OverflowError, TypeError, ValueError):
            bad = next(i for i, row in enumerate(rows) if not _valid_row(row))
            good, row = rows[:bad], rows[bad]
            rows.clear()
            rows.extend(good)
            self._settle()
            for f, v in zip(COLUMNS, row):
                _check_value(f.name, v, f"event (time_ms={row[0]!r}, vehicle_id={row[1]!r}, "
                                        f"edge_id={row[2]!r}, status={row[3]!r}): ")
            raise  # pragma: no cover - _valid_row and _check_value agree
        rows.clear()
        for c, n in zip(self._cols, new):
            c.extend(n)

    def __len__(self) -> int:
        """Records waiting to be packed, all streams together."""
        return len(self._cols[3]) + len(self._rows) + sum(b.pending_records for b in self._buffers[1:])

    def pending_records(self, stream: int) -> int:
        return len(self._cols[3]) + len(self._rows) if stream == 0 else self._buffers[stream].pending_records

    @property
    def last_time_ms(self) -> int | None:
        """The newest time logged on any stream since the last pack (a model logs each in time order)."""
        times = [b.last_time_ms for b in self._buffers[1:]]
        if self._rows:
            times.append(self._rows[-1][0])
        elif self._cols[0]:
            times.append(self._cols[0][-1])
        return max((t for t in times if t is not None), default=None)

    def pack(self, stream: int = 0) -> bytes:
        """Stream ``stream``'s logged records, packed, leaving it empty (for the worker)."""
        if stream:
            return self._buffers[stream].take()
        if not self._rows and not self._cols[3]:
            return b""
        self._settle()
        out = pack_columns(*self._cols)
        for c in self._cols:
            del c[:]
        return out


def _valid_row(row) -> bool:
    try:
        for f, v in zip(COLUMNS, row):
            _check_value(f.name, v)
    except ValueError:
        return False
    return True


def _check_value(field: str, value, where: str = "") -> None:
    if not isinstance(value, int):
        if not hasattr(type(value), "__index__"):
            raise ValueError(f"{where}{field} must be an integer, got {value!r}")
        value = value.__index__()
    if field == "status":
        if value not in _STATUSES:
            names = ", ".join(f"{k} ({v})" for k, v in _STATUSES.items())
            raise ValueError(f"{where}status must be one of {names}, got {value!r}")
    elif not 0 <= value <= _LIMITS[field]:
        hint = _WIDE_HINT if field in ("vehicle_id", "edge_id") else ""
        raise ValueError(f"{where}{field} {value!r} is outside 0..{_LIMITS[field]}{hint}")


def _as_column(f, values) -> array:
    """A column of the events stream, as any stream's (streamlog.column), refused with the
    events' own message (which says when wide ids are the way out)."""
    try:
        return streamlog.column(EVENTS, f, values)
    except ValueError:
        for v in values:
            _check_value(f.name, v)
        raise
