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


def test_describe_reports_the_effective_config():
    p = bridge.make_producer('{"rate": 5}')
    assert json.loads(bridge.describe(p))["rate"] == 5
    assert json.loads(bridge.describe(p))["source"] == "load"


def test_unknown_source_and_bad_json_are_clear_errors():
    with pytest.raises(ValueError, match="unknown event source 'traffic-jam'"):
        bridge.make_producer('{"source": "traffic-jam"}')
    with pytest.raises(ValueError):
        bridge.make_producer("{not json")
