"""The public event-source API (vpslog.Source, EventLog, Part, Param) and the
registry that loads sources. Standard library only: also runs inside Pyodide."""

import json
from array import array

import pytest

import vpslog
from vpslog import bridge, record, registry
from vpslog.source import EventLog


def test_per_event_and_columnar_calls_keep_their_order():
    log = EventLog()
    log.enter(1, 2, 3)
    log.extend([4, 5], array("H", [6, 7]), memoryview(array("H", [8, 9])), bytes([2, 3]))
    log.exit(10, 2, 3)
    log(11, 12, 13, 3)
    log.error(14, 15, 16)
    assert len(log) == 6 and log.last_time_ms == 14
    assert record.unpack(log.pack()) == [(1, 2, 3, 1), (4, 6, 8, 2), (5, 7, 9, 3), (10, 2, 3, 2),
                                         (11, 12, 13, 3), (14, 15, 16, 3)]
    assert len(log) == 0 and log.pack() == b""


@pytest.mark.parametrize("event, message", [
    ((1, 65536, 3), "vehicle_id 65536 is outside 0..65535"),
    ((1, 2, -1), "edge_id -1 is outside 0..65535"),
    ((2**32, 2, 3), "time_ms 4294967296 is outside 0..4294967295"),
    ((-5, 2, 3), "time_ms -5 is outside"),
    ((1.5, 2, 3), "time_ms must be an integer, got 1.5"),
    ((1, "7", 3), "vehicle_id must be an integer, got '7'"),
])
def test_a_bad_per_event_call_keeps_the_events_before_it(event, message):
    log = EventLog()
    log.enter(0, 1, 1)
    log.enter(*event)
    with pytest.raises(ValueError, match=message):
        log.pack()
    assert record.unpack(log.pack()) == [(0, 1, 1, 1)]


def test_a_bad_status_is_refused_per_event_and_columnar():
    log = EventLog()
    log(1, 2, 3, 4)
    with pytest.raises(ValueError, match=r"status must be one of 1 \(enter\), 2 \(exit\), 3 \(error\), got 4"):
        log.pack()
    with pytest.raises(ValueError, match="got 0"):
        log.extend([1], [1], [1], [0])
    assert log.pack() == b""


@pytest.mark.parametrize("columns, message", [
    (([1], [70000], [1], [1]), "vehicle_id 70000 is outside"),
    (([1.0], [1], [1], [1]), "time_ms must be an integer"),
    (([1, 2], [1], [1, 1], [1, 1]), "vehicle_id has 1 values, time_ms has 2"),
    ((array("i", [-1]), [1], [1], [1]), "time_ms -1 is outside"),
])
def test_extend_refuses_bad_columns_whole(columns, message):
    log = EventLog()
    log.enter(0, 0, 0)
    with pytest.raises(ValueError, match=message):
        log.extend(*columns)
    assert record.unpack(log.pack()) == [(0, 0, 0, 1)]


class Counter(vpslog.Source):
    """Counts: `steps` steps of `per_step` enters."""
    name, version = "counter", "2.1"
    params = {"steps": 3, "per_step": vpslog.Param(2, "events per step", 1, 1000), "label": "x", "scale": 1.0}

    def run(self, log):
        for s in range(self.params["steps"]):
            for i in range(self.params["per_step"]):
                log.enter(s * 1000 + i, self.part.worker, i)
            yield


class BadStats(Counter):
    """A model whose own counters fail, or hold what JSON cannot."""
    kind = "raises"

    @property
    def stats(self):
        if self.kind == "raises":
            raise RuntimeError("counter overflow")
        return {"seen": {3}}


@pytest.mark.parametrize("kind", ["raises", "unencodable"])
def test_a_model_whose_stats_fail_still_ends_with_its_counts(monkeypatch, kind):
    monkeypatch.setattr(BadStats, "kind", kind)
    monkeypatch.setattr(registry, "BUILTIN", {**registry.BUILTIN, "bad-stats": f"{__name__}:BadStats"})
    p = bridge.Producer("bad-stats", {}, vpslog.Part())
    while not p.exhausted:
        p.produce(1)
    p.flush()
    reported = json.loads(bridge.stats(p))
    assert reported["records"] == 6 == p.records_out
    if kind == "raises":
        assert reported["stats_error"] == "RuntimeError: counter overflow"
    else:
        assert reported["seen"] == "{3}"


def test_params_are_checked_and_declared():
    assert Counter(vpslog.Part(), per_step=5).params == {"steps": 3, "per_step": 5, "label": "x", "scale": 1.0}
    assert Counter(vpslog.Part(), scale=2).params["scale"] == 2.0  # an int is a fine float
    with pytest.raises(ValueError, match="unknown parameter.*speed.*declared: steps, per_step, label, scale"):
        Counter(vpslog.Part(), speed=3)
    with pytest.raises(ValueError, match="per_step must be within 1..1000, got 0"):
        Counter(vpslog.Part(), per_step=0)
    with pytest.raises(ValueError, match="steps must be int, got 'many'"):
        Counter(vpslog.Part(), steps="many")
    d = Counter.declaration()
    assert d["name"] == "counter" and d["version"] == "2.1" and d["doc"].startswith("Counts")
    assert d["params"]["per_step"] == {"default": 2, "type": "int", "doc": "events per step", "min": 1, "max": 1000}


def test_parts_split_ids_and_random_streams():
    parts = [vpslog.Part(w, 3, seed=9) for w in range(3)]
    shares = [list(p.share(10)) for p in parts]
    assert sum(shares, []) == list(range(10))
    draws = [p.rng().random() for p in parts]
    assert len(set(draws)) == 3 and draws[0] == vpslog.Part(0, 3, seed=9).rng().random()


def test_producer_drives_the_generator_in_whole_buffers(monkeypatch):
    monkeypatch.setattr(registry, "BUILTIN", {**registry.BUILTIN, "counter": f"{__name__}:Counter"})
    p = bridge.Producer("counter", {"steps": 1000, "per_step": 7}, vpslog.Part(1, 2))
    out = b""
    while not p.exhausted:
        chunk = bridge.stream_data(p.produce(2))
        assert len(chunk) % record.BUFFER_BYTES == 0
        out += chunk
    out += bridge.stream_data(p.flush())
    recs = record.unpack(out)
    assert len(recs) == 7000 == p.records_out and {r[1] for r in recs} == {1}
    assert p.stats == {"records": 7000, "steps": 1001, "streams": {"events": 7000}}
    d = p.describe()
    assert d["run"]["source"] == "counter" and d["run"]["version"] == "2.1" and d["run"]["params"]["per_step"] == 7
    assert "network" not in d["run"] and d["producer"] == {"worker": 1}


def test_produce_stops_at_the_real_time_horizon(monkeypatch):
    monkeypatch.setattr(registry, "BUILTIN", {"counter": f"{__name__}:Counter"})
    p = bridge.Producer("counter", {"steps": 50}, vpslog.Part())
    p.produce(16, until_ms=10_500)
    assert p.sim_time_ms == 11_001 and p.steps == 12  # the first step whose events reach the horizon


class Fails(vpslog.Source):
    def run(self, log):
        log.enter(1, 1, 1)
        yield
        log.enter(2, 1, 1)
        raise RuntimeError("the model broke")


class BadValue(vpslog.Source):
    def run(self, log):
        log.enter(1, 1, 1)
        log.exit(2, 99999, 1)
        yield


def test_a_failing_model_keeps_what_it_logged_and_reports_its_traceback(monkeypatch):
    monkeypatch.setattr(registry, "BUILTIN", {"fails": f"{__name__}:Fails", "bad": f"{__name__}:BadValue"})
    p = bridge.Producer("fails")
    out = bridge.stream_data(p.produce(4) + p.flush())
    assert p.exhausted and record.unpack(out) == [(1, 1, 1, 1), (2, 1, 1, 1)]
    assert "RuntimeError: the model broke" in p.error and "in run" in p.error
    p = bridge.Producer("bad")
    out = bridge.stream_data(p.produce(4) + p.flush())
    assert record.unpack(out) == [(1, 1, 1, 1)]
    assert "vehicle_id 99999 is outside 0..65535" in p.error


class NoYield(vpslog.Source):
    def run(self, log):
        log.enter(1, 1, 1)


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz:Model", "no module named 'no_such_module_xyz'"),
    (f"{__name__}:Nope", f"{__name__} has no 'Nope'"),
    (f"{__name__}", "defines [0-9]+ Source classes \\(.*\\); name one as"),
    ("vpslog.record", "vpslog.record defines no vpslog.Source subclass: a model is a class"),
    (f"{__name__}:pytest", "is not a vpslog.Source subclass"),
    (f"{__name__}:NoYield", "NoYield.run\\(log\\) must be a generator"),
])
def test_unloadable_specs_get_one_clear_message(spec, message):
    with pytest.raises(registry.SourceError, match=message):
        registry.resolve(spec)


def test_edge_tables_are_checked(monkeypatch):
    class Edges(Counter):
        table = {}

        def edges(self):
            return self.table

    monkeypatch.setattr(registry, "resolve", lambda spec: Edges)
    p = bridge.Producer("edges")
    Edges.table = {"edge_id": [5, 9], "free_flow_s": [10.0, 20], "capacity": [3, 4], "x0": [0]}
    with pytest.raises(ValueError, match="column x0 has 1 values"):
        p.describe()
    Edges.table = {"edge_id": [5, 5], "free_flow_s": [1, 1], "capacity": [1, 1]}
    with pytest.raises(ValueError, match="unique"):
        p.describe()
    Edges.table = {"edge_id": [5, 70000], "free_flow_s": [1, 1], "capacity": [1, 1]}
    with pytest.raises(ValueError, match="0..65535"):
        p.describe()
    Edges.table = {"edge_id": [5, 9], "free_flow_s": [1, 0], "capacity": [1, 1]}
    with pytest.raises(ValueError, match="free_flow_s must be positive"):
        p.describe()
    Edges.table = {"edge_id": [5, 9], "free_flow_s": [10, 20], "capacity": [3, 4]}
    assert p.describe()["run"]["network"]["edges"]["edge_id"] == [5, 9]


def test_the_built_in_sources_are_listed_with_their_parameters():
    cat = {d["spec"]: d for d in registry.builtin_sources()}
    assert set(cat) == {"traffic", "load"}
    assert cat["traffic"]["params"]["vehicles"]["max"] == 2_000_000 and "seed" not in cat["traffic"]["params"]
    assert cat["load"]["params"]["rate"]["default"] == 200_000
