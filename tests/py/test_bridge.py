"""The Pyodide bridge the sim worker calls: JSON in, whole buffers out, built-in sources."""

import json

import pytest

import vpslog
from vpslog import bridge, record, registry
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


class TwoStreams(vpslog.Source):
    """A busy ``pos`` stream (one record per ms) and a ``rare`` one (one per 5 s)."""
    params = {"seconds": 60}
    streams = [vpslog.Stream("pos", time_ms="uint32", vehicle="uint32", x="float32"),
               vpslog.Stream("rare", time_ms="uint32", note="uint16")]

    def run(self, log):
        for t in range(self.params["seconds"] * 1000):
            log.pos(t, 1, t / 1000)
            if t % 5000 == 0:
                log.rare(t, t // 5000)
            if t % 100 == 0:
                yield


def two_streams(monkeypatch, **params):
    monkeypatch.setattr(registry, "BUILTIN", {**registry.BUILTIN, "two": f"{__name__}:TwoStreams"})
    return bridge.Producer("two", params, vpslog.Part())


def test_segments_carry_each_stream_in_whole_buffers_and_describe_names_them(monkeypatch):
    p = two_streams(monkeypatch)
    pos, rare = p.streams[1], p.streams[2]
    assert [s["name"] for s in p.describe()["run"]["streams"]] == ["events", "pos", "rare"]
    assert p.describe()["run"]["streams"][1] == vpslog.Stream("pos", time_ms="uint32", vehicle="uint32", x="float32").to_json()
    got = {0: b"", 1: b"", 2: b""}
    while not p.exhausted:
        out = p.produce(3)
        header = [bridge.SEGMENT_HEADER.unpack_from(out, 0)] if out else []
        buffers = 0
        for i, data in bridge.segments(out):
            assert len(data) % p.streams[i].buffer_bytes == 0  # whole buffers at full pace
            buffers += len(data) // p.streams[i].buffer_bytes
            got[i] += data
        assert buffers <= 3 and (not header or header[0][1] == len(out) - 8 - sum(
            len(d) + 8 for _, d in list(bridge.segments(out))[1:]))
    for i, data in bridge.segments(p.flush()):
        got[i] += data
    assert got[0] == b"" and len(got[1]) == 60_000 * pos.record_size and len(got[2]) == 12 * rare.record_size
    assert [r[0] for r in pos.struct.iter_unpack(got[1])] == list(range(60_000))
    assert p.stats["streams"] == {"events": 0, "pos": 60_000, "rare": 12} and p.records_out == 60_012


def test_each_stream_is_paced_by_its_own_clock_and_an_idle_one_holds_none_back(monkeypatch):
    p = two_streams(monkeypatch, seconds=30)
    seen = {1: [], 2: []}
    for clock in range(0, 40_000, 250):
        out = p.produce(64, clock)
        for i, data in bridge.segments(out):
            times = [r[0] for r in p.streams[i].struct.iter_unpack(data)]
            assert times and max(times) <= clock, (i, clock)
            seen[i].append((clock, times))
    # pos fills a 341-record buffer every 341 ms of its clock and leaves in whole buffers;
    # rare never fills one, and leaves in partial buffers once its records have waited a second
    # (its last records, fewer than a buffer, leave in a partial one once they have waited a second)
    assert all(len(t) % p.streams[1].records_per_buffer == 0 for _, t in seen[1][:-1])
    assert sum(len(t) for _, t in seen[1]) == 30_000 and 1000 <= seen[1][-1][0] - seen[1][-1][1][0] < 1250
    assert [t for _, t in seen[2]][:2] == [[0], [5000]]
    assert [c for c, _ in seen[2]][:2] == [1000, 6000]


def test_segments_refuse_a_cut_header_or_body():
    with pytest.raises(ValueError, match="3 byte.s. at 0 are not a segment header"):
        list(bridge.segments(b"\0\0\0"))
    with pytest.raises(ValueError, match="stream 2 segment of 10 bytes at 8 overruns the data"):
        list(bridge.segments(bridge.SEGMENT_HEADER.pack(2, 10) + b"\0" * 9))
