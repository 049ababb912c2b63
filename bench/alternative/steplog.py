"""The batched alternative's Python side: one model step's records as typed columns.

What a careful engineer writes without vpslog: the model's log keeps each
stream's records of the current step in one ``array`` per field (typed as the
stream's layout says), and the sim worker posts each step as one message,
either the columns as typed arrays or the step's JSON lines made here.
Standard library only (it runs in Pyodide).
"""

from __future__ import annotations

import json
from array import array

from vpslog import registry
from vpslog.record import COLUMNS, Status
from vpslog.source import Part


def build_source(config_json: str):
    """One worker's part of a source from ``{source, params, worker, workers, seed}``."""
    c = json.loads(config_json)
    return registry.resolve(c["source"])(Part(c["worker"], c["workers"], c["seed"]), **c["params"])


class Columns:
    """One stream's records of the current step, an ``array`` per field."""

    def __init__(self, fields) -> None:
        self.names = tuple(f.name for f in fields)
        self._codes = tuple(f.typecode for f in fields)
        self.columns = tuple(array(c) for c in self._codes)
        # str.format per record: a careful engineer's JSON line (json.dumps of a
        # dict per record costs several times more); floats print as repr, which
        # reads back to the very same value.
        self._line = "{{" + ",".join(f"{json.dumps(n)}:{{}}" for n in self.names) + "}}\n"

    def __call__(self, *record) -> None:
        for col, value in zip(self.columns, record, strict=True):
            col.append(value)

    def extend(self, *columns) -> None:
        for col, values in zip(self.columns, columns, strict=True):
            col.extend(values)

    def take(self) -> tuple[array, ...]:
        taken, self.columns = self.columns, tuple(array(c) for c in self._codes)
        return taken

    def json_lines(self, columns) -> str:
        return "".join(map(self._line.format, *columns))


class ColumnLog:
    """The log a source calls: events (``enter``/``exit``/``error``/``log(...)``/``extend``)
    and its declared streams (``log.stream(name).extend(...)``)."""

    def __init__(self, streams=()) -> None:
        self.events = Columns(COLUMNS)
        self._streams = {"events": self.events, **{s.name: Columns(s.fields) for s in streams}}

    def stream(self, name: str) -> Columns:
        try:
            return self._streams[name]
        except KeyError:
            raise KeyError(f"stream {name!r} is not declared (declared: {', '.join(self._streams)})") from None

    def __call__(self, time_ms, vehicle, edge, status) -> None:
        self.events(time_ms, vehicle, edge, status)

    def enter(self, time_ms, vehicle, edge) -> None:
        self.events(time_ms, vehicle, edge, Status.ENTER)

    def exit(self, time_ms, vehicle, edge) -> None:
        self.events(time_ms, vehicle, edge, Status.EXIT)

    def error(self, time_ms, vehicle, edge) -> None:
        self.events(time_ms, vehicle, edge, Status.ERROR)

    def extend(self, *columns) -> None:
        self.events.extend(*columns)


class StepDriver:
    """Runs one worker's part of a source one model step at a time; each step's
    records of ``stream`` come out as columns."""

    def __init__(self, config_json: str) -> None:
        source = build_source(config_json)
        self.log = ColumnLog(getattr(source, "streams", ()))
        self.stream = self.log.stream(json.loads(config_json).get("stream", "events"))
        self.names = list(self.stream.names)
        self._steps = source.run(self.log)
        self.exhausted = False
        self.records = 0  # in the last step

    def step(self) -> tuple[array, ...]:
        """The next model step's columns (possibly empty; the last ones hold what the model
        logged after its last step)."""
        try:
            next(self._steps)
        except StopIteration:
            self.exhausted = True
        taken = self.stream.take()
        self.records = len(taken[0])
        return taken

    def json_lines(self, columns) -> str:
        return self.stream.json_lines(columns)
