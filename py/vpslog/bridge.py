"""The Pyodide bridge: what the JS sim worker calls, and nothing else.

The worker pulls whole buffers with ``Producer.produce(max_buffers, ...)``;
Python never calls into JS, so one crossing moves up to ``max_buffers`` buffers
and the worker stays free, between calls, to wait for credits (lossless
backpressure), to honour Stop and to keep real time. Arguments cross as JSON
text and results as ``bytes``, so no JS proxies leak.

A result is *segments* (docs/streams.md): each an 8-byte header, ``uint32``
stream index and ``uint32`` byte length (little-endian), then that many bytes
of whole records of that stream. Each stream has its own batcher, so an idle
stream never holds another back.

``vpslog simulate`` drives the same :class:`Producer` natively, so a model
behaves identically in the browser and in CPython.
"""

from __future__ import annotations

import json
import struct
import time
import traceback
from array import array

from . import registry
from .packer import BufferBatcher
from .source import EventLog, Part, run_streams
from .usercode import install_user_code  # noqa: F401  (re-exported for the sim worker)

_EDGE_COLUMNS = ("edge_id", "free_flow_s", "capacity")
_stepping = [False]  # inside a model step: the only place Stop's SIGINT may land
SEGMENT_HEADER = struct.Struct("<II")  # stream index, byte length


def segments(data):
    """``(stream index, records bytes)`` of each segment of a ``produce``/``flush`` result."""
    mv, at = memoryview(data), 0
    while at < len(mv):
        if len(mv) - at < SEGMENT_HEADER.size:
            raise ValueError(f"segments: {len(mv) - at} byte(s) at {at} are not a segment header")
        index, n = SEGMENT_HEADER.unpack_from(mv, at)
        at += SEGMENT_HEADER.size
        if n > len(mv) - at:
            raise ValueError(f"segments: stream {index} segment of {n} bytes at {at} overruns the data")
        yield index, mv[at:at + n]
        at += n


def stream_data(data, stream: int = 0) -> bytes:
    """The records of one stream in a ``produce``/``flush`` result (or several, concatenated)."""
    return b"".join(d for i, d in segments(data) if i == stream)


def enable_interrupts() -> None:
    """Let Stop interrupt a model step that never yields (the page writes SIGINT
    into the worker's interrupt buffer). Outside a step the signal is ignored,
    so it can never cut vpslog's own packing in half."""
    import signal

    def on_sigint(signum, frame):
        if _stepping[0]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


def reseed() -> None:
    """Every interpreter restored from one memory snapshot starts with the same
    random state: give this one its own (``random.seed()`` draws from the OS)."""
    import random

    random.seed()


def builtin_sources() -> str:
    return json.dumps(registry.builtin_sources())


def declare(spec: str) -> str:
    """The declaration of any loadable source (e.g. user code just installed)."""
    return json.dumps({**registry.resolve(spec).declaration(), "spec": spec})


class Producer:
    """One worker's share of a run: drives the source's generator, packs its log."""

    def __init__(self, spec: str, params: dict | None = None, part: Part = Part(), code: dict | None = None) -> None:
        self.spec, self.part, self.code = spec, part, code
        cls = registry.resolve(spec)
        self.source = cls(part, **(params or {}))
        self.streams = run_streams(self.source)
        self.log = EventLog(self.streams[1 + bool(self.source.wide_ids):], bool(self.source.wide_ids))
        self._steps = self.source.run(self.log)
        self._batchers = [BufferBatcher(layout) for layout in self.streams]
        self._first = 0  # the stream offered buffers first, turn by turn (see _allot)
        self.exhausted = False
        self.error: str | None = None     # the model's traceback, if it failed
        self.interrupted = False          # Stop raised KeyboardInterrupt inside a step
        self.steps = 0
        self.sim_time_ms = 0

    @property
    def records_out(self) -> int:
        """Records released, all streams together."""
        return sum(b.records_out for b in self._batchers)

    @property
    def over(self) -> bool:
        """Nothing more will come from ``produce``: the model has ended and every whole
        buffer has left (at real-time pace they leave as they fall due); a model that
        failed is over at once. What is left is ``flush``'s."""
        return self.exhausted and (self.error is not None or not any(b.full_buffers() for b in self._batchers))

    def _ready(self) -> int:
        """Whole buffers the batchers and the log hold, all streams together."""
        log = self.log
        return sum((b.pending_records + log.pending_records(i)) // b.records_per_buffer
                   for i, b in enumerate(self._batchers))

    def produce(self, max_buffers: int, until_ms: int = -1, budget_ms: float = 50.0) -> bytes:
        """Step the model until ``max_buffers`` whole buffers are ready (all streams
        together), it ends, its newest record reaches ``until_ms`` (real-time pace),
        or ``budget_ms`` passes. Returns segments of whole buffers, at most
        ``max_buffers`` of them; at real-time pace only those the clock has reached,
        or a stream's due records in one partial buffer once they have waited a
        second (see ``BufferBatcher.take``); ``b""`` with ``exhausted`` set once it is over."""
        log = self.log
        deadline = time.perf_counter() + budget_ms / 1000
        steps, stepping = self._steps, _stepping
        while not self.exhausted and self._ready() < max_buffers and not (0 <= until_ms <= self.sim_time_ms):
            try:
                stepping[0] = True
                next(steps)
            except StopIteration:
                self.exhausted = True
            except KeyboardInterrupt:
                self.exhausted = self.interrupted = True
            except BaseException:  # noqa: BLE001 - the model's failure ends its part, not the worker
                self.exhausted = True
                self.error = traceback.format_exc(limit=-12)
            finally:
                stepping[0] = False
            self.steps += 1
            last = log.last_time_ms
            if last is not None:
                self.sim_time_ms = last
            if (0 <= until_ms <= self.sim_time_ms) or time.perf_counter() > deadline:
                break
        self._pack()
        return self._take(max_buffers, until_ms)

    def _take(self, max_buffers: int, until_ms: int) -> bytes:
        out, left = [], max_buffers
        for i, n in self._allot(max_buffers, until_ms):
            data = self._batchers[i].take(n or (1 if left else 0), until_ms)
            if data:
                left -= -(-len(data) // self._batchers[i].buffer_bytes)
                out += (SEGMENT_HEADER.pack(i, len(data)), data)
        return b"".join(out)

    def _allot(self, max_buffers: int, until_ms: int) -> list[tuple[int, int]]:
        """``(stream, whole buffers)`` for every stream: the due buffers shared out one at a
        time, turn by turn, starting with a different stream each call, so a busy stream
        cannot starve another. Streams allotted none come last (a partial buffer, if
        any credit is left)."""
        k = len(self._batchers)
        order = [(self._first + j) % k for j in range(k)]
        self._first = (self._first + 1) % k
        due = {i: self._batchers[i].due_buffers(until_ms) for i in order}
        got, left = dict.fromkeys(order, 0), max_buffers
        if sum(due.values()) <= max_buffers:  # enough credit for every due buffer: no sharing needed
            got, left = dict(due), 0
        while left and any(got[i] < due[i] for i in order):
            for i in order:
                if left and got[i] < due[i]:
                    got[i] += 1
                    left -= 1
        return sorted(got.items(), key=lambda kv: (not kv[1], order.index(kv[0])))

    def _pack(self) -> None:
        try:
            packed = self.log.pack()
        except ValueError as e:  # a per-event call logged a bad value: keep the events before it
            self.exhausted = True
            self.error = f"ValueError: {e} (found when the step's events were packed)"
            packed = self.log.pack()
        self._batchers[0].add(packed)
        for i, b in enumerate(self._batchers[1:], 1):
            b.add(self.log.pack(i))

    def flush(self) -> bytes:
        """The final partial buffer (possibly empty); call once, at stop."""
        self.exhausted = True
        try:
            self._steps.close()
        except BaseException:  # noqa: BLE001 - a model that fails while being closed still keeps its records
            self.error = self.error or traceback.format_exc(limit=-12)
        self._pack()
        return b"".join(SEGMENT_HEADER.pack(i, len(d)) + d for i, b in enumerate(self._batchers) if (d := b.flush()))

    def describe(self) -> dict:
        """``{"run": facts identical in every worker, "producer": this worker's own}``."""
        src = self.source
        run = {"source": src.source_name(), "version": str(src.version), "spec": self.spec,
               "params": src.params, "seed": self.part.seed, "workers": self.part.workers,
               "streams": [layout.to_json() for layout in self.streams]}
        edges = src.edges()
        if edges is not None:
            run["network"] = {"edges": _checked_edges(edges)}
        if self.code:
            run["code"] = self.code
        return {"run": {**src.describe(), **run}, "producer": {"worker": self.part.worker}}

    def view(self) -> bytes:
        """The source's view as uint16 edge ids then uint16 occupancies (clamped), or b""."""
        v = self.source.view()
        if not v:
            return b""
        edges, occ = array("H", v["edges"]), array("H", (min(n, 65535) for n in v["occupancy"]))
        if len(edges) != len(occ):
            raise ValueError(f"view(): {len(edges)} edges but {len(occ)} occupancies")
        return edges.tobytes() + occ.tobytes()

    @property
    def stats(self) -> dict:
        # The model's own counters must never keep its part from ending (the sim sends
        # its eof after them): a stats property that raises is reported instead.
        try:
            own = dict(self.source.stats)
        except Exception as e:  # noqa: BLE001 - the user's code, whatever it raised
            own = {"stats_error": f"{type(e).__name__}: {e}"}
        out = {**own, "records": self.records_out, "steps": self.steps,
               "streams": {b.layout.name: b.records_out for b in self._batchers}}
        if self.interrupted:
            out["interrupted"] = True
        return out


def _checked_edges(table) -> dict:
    if not isinstance(table, dict) or not all(k in table for k in _EDGE_COLUMNS):
        raise ValueError(f"edges() must return a dict with columns {', '.join(_EDGE_COLUMNS)}")
    cols = {k: list(v) for k, v in table.items()}
    n = len(cols["edge_id"])
    for k, v in cols.items():
        if len(v) != n:
            raise ValueError(f"edge table: column {k} has {len(v)} values, edge_id has {n}")
    ids = cols["edge_id"]
    if any(isinstance(e, bool) or not isinstance(e, int) or not 0 <= e <= 65535 for e in ids):
        raise ValueError("edge table: edge_id values must be integers within 0..65535")
    if len(set(ids)) != n:
        raise ValueError("edge table: edge_id values must be unique")
    for k in ("free_flow_s", "capacity"):
        if any(not isinstance(x, (int, float)) or not x > 0 for x in cols[k]):
            raise ValueError(f"edge table: {k} must be positive numbers")
    return cols


def make_producer(config_json: str) -> Producer:
    """``{"source": spec, "params": {...}, "worker": i, "workers": n, "seed": s, "code": {...}}``."""
    try:
        c = json.loads(config_json)
    except json.JSONDecodeError as e:
        raise ValueError(f"run config is not valid JSON ({e})") from None
    if not isinstance(c, dict):
        raise ValueError(f"run config must be a JSON object, got {type(c).__name__}")
    worker, workers = c.get("worker", 0), c.get("workers", 1)
    if not (isinstance(worker, int) and isinstance(workers, int) and 0 <= worker < workers):
        raise ValueError(f"worker {worker!r} of {workers!r} is not a valid part")
    seed = c.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return Producer(c.get("source", "traffic"), c.get("params") or {}, Part(worker, workers, seed), c.get("code"))


def describe(producer: Producer) -> str:
    return json.dumps(producer.describe())


def stats(producer: Producer) -> str:
    # values JSON cannot hold (a set, a Decimal) are given as their repr
    return json.dumps(producer.stats, default=repr)
