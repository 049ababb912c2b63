"""The event-driven traffic simulation: log structure, determinism, the travel
time law, and V rebuilt exactly from the log."""

import pytest

from vpslog import record
from vpslog.packer import packed_batches
from vpslog.record import Status
from vpslog.source import Part
from vpslog.traffic import TrafficSource, TrafficConfig, TrafficSim

SMALL = dict(vehicles=600, grid=8, duration_s=600, seed=5)


def run(sim, batch=997):
    return record.unpack(b"".join(packed_batches(sim, batch)))


def test_each_trip_is_enter_then_exit_pairs_and_ends_with_an_exit_or_error():
    sim = TrafficSim(TrafficConfig(**SMALL))
    recs = run(sim)
    assert len(recs) == sim.stats["records"]
    by_vehicle = {}
    for t, v, e, s in recs:
        by_vehicle.setdefault(v, []).append((t, e, s))
    assert set(by_vehicle) <= set(range(600))
    traversals = 0
    for events in by_vehicle.values():
        times = [t for t, _, _ in events]
        assert times == sorted(times)
        on = None
        for i, (t, e, s) in enumerate(events):
            if s == Status.ENTER:
                assert on is None
                on = (e, t)
            elif s == Status.EXIT:
                assert on is not None and on[0] == e and t > on[1]
                on = None
                traversals += 1
                if i + 1 < len(events) and events[i + 1][2] == Status.ENTER:
                    assert events[i + 1][0] == t  # the next edge is entered as the old one is left
            else:
                assert on is None and i == len(events) - 1  # an error ends the trip
        assert on is None  # every trip finished
    assert traversals == sim.stats["traversals"] > 0
    errors = sum(1 for r in recs if r[3] == Status.ERROR)
    assert errors == sim.stats["blocked"] + sim.stats["routing_failures"]


def test_deterministic_per_seed():
    a = run(TrafficSim(TrafficConfig(**SMALL)))
    assert a == run(TrafficSim(TrafficConfig(**SMALL)), batch=50_000)  # batch size does not matter
    assert a != run(TrafficSim(TrafficConfig(**{**SMALL, "seed": 6})))


def test_a_step_spans_at_most_its_simulated_time_and_the_events_do_not_change():
    sim, spans, cols = TrafficSim(TrafficConfig(**SMALL)), [], []
    while (c := sim.next_batch(4096, span_ms=1000)) is not None:
        spans.append(c[0][-1] - c[0][0] if len(c[0]) else 0)
        cols.append(record.pack(list(zip(*c))))
    assert max(spans) <= 1000 and len(spans) > 600  # a 600 s window: about a step per simulated second
    assert record.unpack(b"".join(cols)) == run(TrafficSim(TrafficConfig(**SMALL)))


def test_without_noise_travel_time_is_the_bpr_law_of_v_rebuilt_from_the_log():
    cfg = TrafficConfig(**{**SMALL, "vehicles": 3000, "spread": 0.0, "alpha": 0.4, "beta": 3.0})
    sim = TrafficSim(cfg)
    recs = run(sim)
    t0, cap = sim.network.free_flow_s, sim.network.capacity
    occupancy, entered, checked, over_capacity = {}, {}, 0, 0
    for t, v, e, s in recs:  # log order, as the analysis reads it
        if s == Status.ENTER:
            occupancy[e] = occupancy.get(e, 0) + 1
            entered[(v, e)] = (t, occupancy[e])
        elif s == Status.EXIT:
            occupancy[e] -= 1
            t_in, volume = entered.pop((v, e))
            expected_ms = 1000 * t0[e] * (1 + cfg.alpha * (volume / cap[e]) ** cfg.beta)
            assert abs((t - t_in) - expected_ms) <= 0.5 + 1e-6
            checked += 1
            over_capacity += volume > cap[e]
    assert checked == sim.stats["traversals"]
    assert over_capacity > 0  # the demand peak pushes V/C above 1


def test_workers_have_disjoint_vehicles_and_edges():
    cfg = TrafficConfig(**SMALL)
    seen_v, seen_e = set(), set()
    for w in range(3):
        recs = run(TrafficSim(cfg, w, 3))
        vs, es = {r[1] for r in recs}, {r[2] for r in recs if r[3] != Status.ERROR}
        assert vs and not vs & seen_v and not es & seen_e
        seen_v |= vs
        seen_e |= es
    assert seen_v <= set(range(600))


def test_the_source_describes_edge_table_ground_truth_and_demand():
    params = {k: v for k, v in SMALL.items() if k != "seed"}
    src = TrafficSource(Part(1, 2, seed=SMALL.get("seed", 1)), **params)
    facts = src.describe()
    assert facts["ground_truth"] == {"alpha": 0.15, "beta": 4.0, "spread": 0.1}
    assert facts["demand"]["duration_s"] == 600 and facts["grid"] == {"rows": 8, "cols": 8}
    edges = src.edges()
    assert len(edges["capacity"]) == 2 * 2 * 8 * 7
    # geometry: every edge joins grid neighbours, for the page's map
    assert all(abs(edges["x0"][e] - edges["x1"][e]) + abs(edges["y0"][e] - edges["y1"][e]) == 1 for e in edges["edge_id"])
    assert src.stats["vehicles"] == [300, 600]


@pytest.mark.parametrize("bad, message", [
    (dict(vehicles=3_000_000), "vehicles must be"),
    (dict(fcd_period_s=-1), "fcd_period_s must be"),
    (dict(grid=200), "grid must be"),
    (dict(beta=0), "alpha and beta must be positive"),
    (dict(min_hops=9, max_hops=3), "min_hops"),
])
def test_bad_config_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        TrafficConfig(**bad)
    with pytest.raises(ValueError, match="unknown traffic option"):
        TrafficConfig.from_dict({"lanes": 2})
    with pytest.raises(ValueError, match="worker 3 of 3"):
        TrafficSim(TrafficConfig(grid=4), 3, 3)
