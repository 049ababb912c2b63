"""The alternative's Python side: a built-in vpslog source, logged as one dict per event.

This is what a team without vpslog writes: the model's log turns every event
into a JSON-able object ``{time_ms, vehicle_id, edge_id, status}``; the sim
worker takes each step's objects into JavaScript and posts them one by one.
Standard library only (it runs in Pyodide); the sources come from vpslog's
registry unchanged, so the event stream is the one vpslog logs.
"""

from __future__ import annotations

from steplog import build_source

_ENTER, _EXIT, _ERROR = 1, 2, 3


class ObjectLog:
    """The log API a source calls (``enter``/``exit``/``error``/``log(...)``/``extend``)."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, time_ms, vehicle, edge, status) -> None:
        self.events.append({"time_ms": time_ms, "vehicle_id": vehicle, "edge_id": edge, "status": status})

    def enter(self, time_ms, vehicle, edge) -> None:
        self(time_ms, vehicle, edge, _ENTER)

    def exit(self, time_ms, vehicle, edge) -> None:
        self(time_ms, vehicle, edge, _EXIT)

    def error(self, time_ms, vehicle, edge) -> None:
        self(time_ms, vehicle, edge, _ERROR)

    def extend(self, times, vehicles, edges, statuses) -> None:
        self.events += [{"time_ms": t, "vehicle_id": v, "edge_id": e, "status": s}
                        for t, v, e, s in zip(times, vehicles, edges, statuses)]


class Driver:
    """Steps one worker's part of a source until enough events are logged."""

    def __init__(self, config_json: str) -> None:
        source = build_source(config_json)
        self.log = ObjectLog()
        self._steps = source.run(self.log)
        self.exhausted = False

    def step(self, min_events: int) -> list[dict]:
        """This batch's event objects (possibly fewer at the end of the model)."""
        log = self.log
        while not self.exhausted and len(log.events) < min_events:
            try:
                next(self._steps)
            except StopIteration:
                self.exhausted = True
        events, log.events = log.events, []
        return events
