"""The Pyodide bridge the sim worker calls: whole buffers, then one final partial."""

import json

import pytest

from vpslog import bridge, record
from vpslog.record import BUFFER_BYTES


def test_produce_returns_whole_buffers_then_flush_returns_the_rest():
    p = bridge.make_producer(json.dumps({"source": "load", "rate": 10_000, "duration_ms": 1000}))
    chunks = []
    while (out := p.produce(3)):
        assert len(out) % BUFFER_BYTES == 0 and len(out) <= 3 * BUFFER_BYTES
        chunks.append(out)
    assert p.exhausted
    tail = p.flush()
    assert 0 < len(tail) < BUFFER_BYTES
    recs = record.unpack(b"".join(chunks) + tail)
    assert len(recs) == p.records_out == 10_000


def test_describe_and_stats_report_the_effective_config_and_counts():
    p = bridge.make_producer('{"source": "load", "rate": 5, "duration_ms": 2000, "worker": 1, "workers": 2}')
    d = json.loads(bridge.describe(p))
    assert d["run"]["config"]["rate"] == 5 and d["run"]["source"] == "load" and d["producer"] == {"worker": 1}
    p.produce(1)
    p.flush()
    assert json.loads(bridge.stats(p)) == {"records": 10}


def test_traffic_is_the_default_source():
    p = bridge.make_producer('{"vehicles": 50, "grid": 4, "duration_s": 60, "worker": 0, "workers": 2}')
    assert json.loads(bridge.describe(p))["run"]["source"] == "traffic"
    out = p.produce(100) + p.flush()
    stats = json.loads(bridge.stats(p))
    assert len(out) // 10 == stats["records"] == p.records_out > 0


def test_unknown_source_and_bad_json_are_clear_errors():
    with pytest.raises(ValueError, match="unknown event source 'traffic-jam'"):
        bridge.make_producer('{"source": "traffic-jam"}')
    with pytest.raises(ValueError):
        bridge.make_producer("{not json")
    with pytest.raises(ValueError, match="worker 2 of 2"):
        bridge.make_producer('{"worker": 2, "workers": 2}')
