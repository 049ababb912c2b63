"""The alternative benchmark logs the very event stream vpslog logs (CPython)."""

import json
import sys
from pathlib import Path

import pytest

from vpslog import bridge, record

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "alternative"))
import objlog  # noqa: E402


@pytest.mark.parametrize("spec, params", [
    ("load", {"rate": 1_000_000, "vehicles": 20_000, "edges": 4_000, "error_rate": 0.01}),
    ("traffic", {}),
])
def test_same_events_as_vpslog(spec, params):
    config = {"source": spec, "params": params, "worker": 1, "workers": 2, "seed": 3}
    producer = bridge.make_producer(json.dumps(config))
    packed = producer.produce(32) + producer.produce(32)
    ours = record.unpack(packed)
    driver = objlog.Driver(json.dumps(config))
    theirs = []
    while len(theirs) < len(ours):
        theirs += driver.step(4096)
    keys = ("time_ms", "vehicle_id", "edge_id", "status")
    assert len(ours) >= 409 * 32
    assert [tuple(ev[k] for k in keys) for ev in theirs[:len(ours)]] == ours


def test_per_event_calls_become_objects():
    log = objlog.ObjectLog()
    log.enter(5, 1, 2)
    log.exit(9, 1, 2)
    log.error(9, 1, 3)
    log(10, 4, 5, 1)
    assert log.events == [
        {"time_ms": 5, "vehicle_id": 1, "edge_id": 2, "status": 1},
        {"time_ms": 9, "vehicle_id": 1, "edge_id": 2, "status": 2},
        {"time_ms": 9, "vehicle_id": 1, "edge_id": 3, "status": 3},
        {"time_ms": 10, "vehicle_id": 4, "edge_id": 5, "status": 1},
    ]
