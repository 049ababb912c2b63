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
from vpslog.source import EventLog
from vpslog.loadgen import LoadConfig, SyntheticLoad
from vpslog.packer import interleave, pack_columns
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
    if producer.error:  # a model that failed early would look fast
        raise RuntimeError(producer.error)
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


def telemetry_rates() -> str:
    """The telemetry record's rates as a run gets them (through the Producer: packing,
    batching into buffers) and its parts alone: the per-record call and ``extend``
    into the stream's pending bytes (taken every 4096 records), and the columnar
    interleave into a ready bytearray."""
    out = {}
    for key, cls in (("telemetry_per_event", TelemetryPerEvent), ("telemetry_columnar", TelemetryColumnar)):
        registry.BUILTIN[key] = f"{__name__}:{cls.__name__}"
        out[f"{key}_records_per_s"] = median_rate(lambda: drain(bridge.Producer(key, {}, Part())),
                                                  cls.params["events"], reps=5)
    tel = EventLog((TELEMETRY,)).telemetry
    layout = tel.layout

    def calls():
        for base in range(0, 200_000, STEP):
            for i in range(base, base + STEP):
                tel(i, 7, 1.5, 2.5, 3.5, 1)
            log_buffer(tel).clear()

    def extends():
        for _ in range(4_000_000 // STEP):
            tel.extend(*TEL_COLUMNS)
            log_buffer(tel).clear()

    out["telemetry_call_alone_records_per_s"] = median_rate(calls, 200_000)
    out["telemetry_extend_alone_records_per_s"] = median_rate(extends, 4_000_000)
    data = bytearray(STEP * layout.record_size)
    out["telemetry_interleave_records_per_s"] = median_rate(
        lambda: [interleave(data, 0, layout.record_size, layout.fields, TEL_COLUMNS) for _ in range(1000)], 1000 * STEP)
    return json.dumps(out)


def producer_bytes_per_s(spec: str, params: dict, calls: int = 60, reps: int = 5) -> float:
    """Bytes of whole buffers one Producer releases per second at full pace, called as a sim
    calls it (``produce(16)``): the source's own ceiling in one worker, without transport."""
    rates = []
    for _ in range(reps):
        producer = bridge.Producer(spec, params, Part())
        t = time.perf_counter()
        n = sum(len(producer.produce(16)) for _ in range(calls))
        rates.append(n / (time.perf_counter() - t))
    return sorted(rates)[len(rates) // 2]


def stream_rates(stream_load_spec: str) -> str:
    """``telemetry_rates`` and the Producer's bytes/s of the load source (events only) and
    of bench/stream_load.py (events + two streams), the run cases of bench/streams.py."""
    out = json.loads(telemetry_rates())
    params = {"rate": 1_000_000, "vehicles": 20_000}
    out["load_producer_bytes_per_s"] = producer_bytes_per_s("load", {**params, "edges": 4000})
    out["stream_load_producer_bytes_per_s"] = producer_bytes_per_s(stream_load_spec, params)
    return json.dumps(out)


def log_buffer(rec) -> bytearray:
    """The pending bytes a per-record logger appends to (the closure's ``bytearray.extend``)."""
    return rec.__globals__["_extend"].__self__


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
