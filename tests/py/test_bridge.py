"""The Pyodide bridge the sim worker calls: JSON in, whole buffers out, built-in sources."""

import json

import pytest

from vpslog import bridge, record
from vpslog.record import BUFFER_BYTES


def test_produce_returns_whole_buffers_then_flush_returns_the_rest():
    p = bridge.make_producer(json.dumps({"source": "load", "params": {"rate": 10_000, "duration_ms": 1000}}))
    chunks = []
    while (out := bridge.stream_data(p.produce(3))) or not p.exhausted:
        assert len(out) % BUFFER_BYTES == 0 and len(out) <= 3 * BUFFER_BYTES
        chunks.append(out)
    tail = bridge.stream_data(p.flush())
    assert 0 < len(tail) < BUFFER_BYTES
    recs = record.unpack(b"".join(chunks) + tail)
    assert len(recs) == p.records_out == 10_000


def test_describe_and_stats_report_the_effective_params_and_counts():
    p = bridge.make_producer('{"source": "load", "params": {"rate": 5, "duration_ms": 2000}, "worker": 1, "workers": 2, "seed": 4}')
    d = json.loads(bridge.describe(p))
    assert d["run"]["params"]["rate"] == 5 and d["run"]["source"] == "load" and d["run"]["seed"] == 4
    assert d["producer"] == {"worker": 1} and "network" not in d["run"]
    p.produce(1)
    p.flush()
    assert json.loads(bridge.stats(p))["records"] == 10


def test_traffic_is_the_default_source_and_describes_its_network():
    p = bridge.make_producer('{"params": {"vehicles": 50, "grid": 4, "duration_s": 60}, "worker": 0, "workers": 2}')
    d = json.loads(bridge.describe(p))
    assert d["run"]["source"] == "traffic" and d["run"]["ground_truth"]["alpha"] == 0.15
    assert len(d["run"]["network"]["edges"]["edge_id"]) == 48
    out = bridge.stream_data(p.produce(100) + p.flush())
    stats = json.loads(bridge.stats(p))
    assert len(out) // 10 == stats["records"] == p.records_out > 0


def test_at_real_time_pace_records_leave_as_the_clock_reaches_them():
    """A sparse traffic run (the default's density: ~8,000 records over ~250 s of
    simulated time) must follow the clock: the model steps no further than it, and
    a buffer leaves only once its last record is due, never the whole run at once."""
    p = bridge.make_producer('{"params": {"vehicles": 300, "grid": 8, "duration_s": 240}, "worker": 0, "workers": 1}')
    sent, released = [], []
    for clock in range(0, 400_000, 250):  # the worker's clock, in 250 ms ticks
        recs = record.unpack(bridge.stream_data(p.produce(64, clock)))
        assert all(r[0] <= clock for r in recs), clock
        sent += recs
        if recs:
            released.append(clock)
        if p.over:
            break
    recs = sent + record.unpack(bridge.stream_data(p.flush()))
    assert len(recs) == p.records_out > 8 * 409
    assert len(released) >= 8 and released[-1] - released[0] >= 120_000  # spread over the run, not at once


def test_unknown_source_bad_params_and_bad_json_are_clear_errors():
    with pytest.raises(ValueError, match="no module named 'traffic-jam'"):
        bridge.make_producer('{"source": "traffic-jam"}')
    with pytest.raises(ValueError, match="unknown parameter.*speed"):
        bridge.make_producer('{"source": "load", "params": {"speed": 1}}')
    with pytest.raises(ValueError, match=r"run config is not valid JSON \(Expecting property name"):
        bridge.make_producer("{not json")
    with pytest.raises(ValueError, match="run config must be a JSON object, got list"):
        bridge.make_producer("[1, 2]")
    with pytest.raises(ValueError, match="worker 2 of 2"):
        bridge.make_producer('{"worker": 2, "workers": 2}')
    with pytest.raises(ValueError, match="workers <= grid"):
        bridge.make_producer('{"source": "traffic", "params": {"grid": 3}, "worker": 3, "workers": 4}')
    assert json.loads(bridge.declare("load"))["spec"] == "load"
