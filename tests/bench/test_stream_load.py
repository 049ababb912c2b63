"""bench/stream_load.py, the streams benchmark's source (CPython): its events are the
events-only baseline's own, and its two streams look like a fleet's logs, not copies."""

import sys
from pathlib import Path

import pytest

from vpslog import Part, bridge

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
SPEC = "stream_load:StreamLoad"  # a module:Class spec, as user code is named: the built-in sources stay as they are
PARAMS = {"rate": 1_000_000, "vehicles": 20_000}
PART = Part(worker=1, workers=2, seed=3)


def produced(spec, params, calls=12):
    producer = bridge.Producer(spec, params, PART)
    data = b"".join(producer.produce(16) for _ in range(calls)) + producer.flush()
    streams = {i: bytearray() for i in range(len(producer.streams))}
    for i, d in bridge.segments(data):
        streams[i] += d
    return {layout.name: list(layout.struct.iter_unpack(bytes(streams[i]))) for i, layout in enumerate(producer.streams)}


@pytest.fixture(scope="module")
def records():
    return produced(SPEC, PARAMS)


def test_its_events_are_the_load_sources(records):
    load = produced("load", {**PARAMS, "edges": 4000}, calls=40)["events"]
    assert len(records["events"]) > 8192 and records["events"] == load[:len(records["events"])]


def test_each_stream_has_its_rate_in_time_order(records):
    events_ms = records["events"][-1][0] - records["events"][0][0] + 1
    for name, rate in (("telemetry", 500), ("fleet", 300)):
        times = [r[0] for r in records[name]]
        assert times == sorted(times) and times[0] == 0, name
        assert abs(len(times) / (times[-1] + 1) - rate) < 1, name
        assert times[-1] <= events_ms


def test_values_look_like_a_fleet_not_copies(records):
    ring_r = 2000 / 6.283185307179586
    for name, x, y, speed in (("telemetry", 2, 3, 4), ("fleet", 4, 5, 6)):
        rows = records[name]
        assert all(ring_r - 1 < (r[x] ** 2 + r[y] ** 2) ** 0.5 < ring_r + 8 for r in rows), name
        assert all(0 <= r[speed] <= 30 for r in rows), name
        # every record its own sample of the cars' motion: no values repeat (with new times or not)
        samples = {r[1:] for r in rows}
        assert len(samples) == len(rows) > 8192, name
    assert all(r[1] <= r[0] for r in records["fleet"])  # sent before received
