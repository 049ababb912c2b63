"""Python-side rates, run unchanged in a Pyodide worker and in CPython (stdlib only).

The bench executes this text in both and calls ``main(ring_road_source)``, which
returns one JSON object of records/s (or seconds) figures.
"""

import json
import sys
import tempfile
import time
from array import array
from pathlib import Path

from vpslog import Part, Source, Stream, bridge, registry
from vpslog.loadgen import LoadConfig, SyntheticLoad
from vpslog.packer import pack_columns
from vpslog.traffic import TrafficConfig, TrafficSim

STEP = 4096


def median_rate(fn, records, reps=7):
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        rates.append(records / (time.perf_counter() - t))
    return sorted(rates)[len(rates) // 2]


def drain(producer):
    while not producer.exhausted:
        producer.produce(16)
    producer.flush()
    return producer.records_out


class PerEvent(Source):
    """The per-event API as a plain model uses it: one call per event."""
    params = {"events": 200_000}

    def run(self, log):
        enter, exit_ = log.enter, log.exit
        for base in range(0, self.params["events"], STEP):
            for i in range(base, base + STEP, 2):
                enter(i, 7, 9)
                exit_(i + 1, 7, 9)
            yield


class BareAppend(Source):
    """Reference: the cheapest plain-Python logging a model could do itself (4 arrays)."""
    params = {"events": 200_000}

    def run(self, log):
        cols = [array("I"), array("H"), array("H"), array("B")]
        ta, va, ea, sa = (c.append for c in cols)
        for base in range(0, self.params["events"], STEP):
            for i in range(base, base + STEP):
                ta(i), va(7), ea(9), sa(1)
            for c in cols:
                del c[:]
            yield


COLUMNS = SyntheticLoad(LoadConfig(rate=4_096_000)).next_batch(STEP)


class Columnar(Source):
    """``log.extend`` with ready columns of 4096 records per step."""
    params = {"events": 4_000_000}

    def run(self, log):
        cols = COLUMNS
        for _ in range(self.params["events"] // len(cols[0])):
            log.extend(*cols)
            yield


# The telemetry record: u32 time, u32 vehicle, 3 x f32, u8 (21 bytes).
TELEMETRY = Stream("telemetry", time_ms="uint32", vehicle="uint32", x="float32", y="float32", speed="float32",
                   lane="uint8")
TEL_COLUMNS = (array("I", range(STEP)), array("I", [7] * STEP), array("f", [1.5] * STEP), array("f", [2.5] * STEP),
               array("f", [3.5] * STEP), array("B", [1] * STEP))


class TelemetryPerEvent(Source):
    """``log.telemetry(...)`` once per record."""
    params = {"events": 200_000}
    streams = [TELEMETRY]

    def run(self, log):
        tel = log.telemetry
        for base in range(0, self.params["events"], STEP):
            for i in range(base, base + STEP):
                tel(i, 7, 1.5, 2.5, 3.5, 1)
            yield


class TelemetryColumnar(Source):
    """``log.telemetry.extend`` with ready columns of 4096 records per step."""
    params = {"events": 4_000_000}
    streams = [TELEMETRY]

    def run(self, log):
        extend = log.telemetry.extend
        for _ in range(self.params["events"] // STEP):
            extend(*TEL_COLUMNS)
            yield


class _NoopLog:
    """The ring road with its log calls replaced by no-ops: the model's own cost."""
    def enter(self, *a):
        pass

    exit = error = __call__ = enter


def main(ring_road_source: str) -> str:
    specs = {"per_event": PerEvent, "bare": BareAppend, "columnar": Columnar,
             "telemetry_per_event": TelemetryPerEvent, "telemetry_columnar": TelemetryColumnar}
    registry.BUILTIN.update({k: f"{__name__}:{v.__name__}" for k, v in specs.items()})
    out = {}
    for key, cls in specs.items():
        n = cls.params["events"]
        out[f"{key}_records_per_s"] = median_rate(lambda: drain(bridge.Producer(key, {}, Part())), n, reps=5)

    cols = SyntheticLoad(LoadConfig(rate=4_090_000)).next_batch(409_000)
    out["pack_records_per_s"] = median_rate(lambda: pack_columns(*cols), len(cols[0]))

    def traffic():
        sim = TrafficSim(TrafficConfig(vehicles=20_000), 0, 2)  # one worker's part of the default run
        t = time.perf_counter()
        while sim.next_batch(6544) is not None:
            pass
        return sim.stats["records"] / (time.perf_counter() - t)
    out["traffic_records_per_s"] = sorted(traffic() for _ in range(3))[1]

    # Example (a), the IDM ring road: logging on (through the Producer, packing
    # included) against the same model with no-op log calls.
    d = Path(tempfile.mkdtemp())
    (d / "ring_road.py").write_text(ring_road_source)
    sys.path.insert(0, str(d))
    ring = registry.resolve("ring_road:RingRoad")
    params = {"vehicles": 200, "edges": 40, "minutes": 2.0}
    logged, bare = [], []
    for _ in range(5):
        t = time.perf_counter()
        n = drain(bridge.Producer("ring_road:RingRoad", params, Part()))
        logged.append(time.perf_counter() - t)
        t = time.perf_counter()
        for _ in ring(Part(), **params).run(_NoopLog()):
            pass
        bare.append(time.perf_counter() - t)
    out["ring_events"] = n
    out["ring_logged_s"] = sorted(logged)[2]
    out["ring_noop_s"] = sorted(bare)[2]
    return json.dumps(out)
