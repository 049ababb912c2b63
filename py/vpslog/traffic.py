"""Event-driven traffic simulation: an event source for the sim workers and the CLI.

Vehicles depart over the run following a demand profile with a peak, random-walk
``hops`` edges through their worker's part of the grid (no U-turns) and log
``enter`` when they take an edge and ``exit`` when they leave it (status 1, 2).
Cost grows with edge transitions, not vehicles x ticks: one heap entry per
vehicle on the road.

Travel time on an edge is drawn at entry as
``t0 * (1 + alpha * (V / C) ** beta) * eps``, where ``V`` is the number of
vehicles on the edge including the one entering (rebuildable exactly from the
log: enters minus exits on that edge, in log order) and ``eps`` is lognormal
with mean 1 and log-sd ``spread``.

Errors (status 3) are real outcomes: a vehicle whose next edge is jammed
(``V > jam_limit * C``) is *blocked*: it logs exit of its edge and an error on
the refused edge, and its trip ends. With probability ``error_rate`` per
transition a *routing failure* ends the trip with an error on the current edge.

With ``fcd_period_s`` > 0 the source also logs floating car data, the ``fcd``
stream: every ``fcd_period_s`` of simulated time, one record per vehicle on the
road (``time_ms``, ``vehicle``, ``edge``, ``position_m`` along the edge,
``speed_mps``), as SUMO's FCD output does. A vehicle moves at constant speed
along an edge (its length over its drawn travel time), so position and speed
follow from the enter and exit times. More than 65,535 vehicles switch the run
to 32-bit ids (the ``events_wide`` stream).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

from array import array

from ._options import from_dict, refuse_invalid
from .layout import EVENTS_WIDE
from .network import grid
from .packer import new_columns
from .record import Status
from .source import Param, Source, Stream

MAX_VEHICLES = 2_000_000
NARROW_VEHICLES = 65535  # above this, events carry 32-bit ids (events_wide)
FCD = Stream("fcd", time_ms="uint32", vehicle="uint32", edge="uint32", position_m="float32", speed_mps="float32")

ENTER, EXIT, ERROR = int(Status.ENTER), int(Status.EXIT), int(Status.ERROR)
INF = float("inf")


@dataclass(frozen=True)
class TrafficConfig:
    vehicles: int = 20_000       # in total, over all workers (ids 0..vehicles-1)
    grid: int = 24               # grid x grid nodes
    alpha: float = 0.15          # ground truth BPR alpha (1964 BPR value)
    beta: float = 4.0            # ground truth BPR beta
    spread: float = 0.1          # log-sd of the travel-time noise (mean 1)
    seed: int = 1
    duration_s: int = 1800       # departures happen within [0, duration_s)
    demand_base: float = 0.25    # share of departures spread evenly over the run...
    peak_at: float = 0.5         # ...the rest in a peak centred here (fraction of the run)
    peak_width: float = 0.12     # with this standard deviation (fraction of the run)
    min_hops: int = 5
    max_hops: int = 25
    jam_limit: float = 3.0       # V/C above which an edge refuses vehicles
    error_rate: float = 0.0005   # routing failures per transition
    fcd_period_s: float = 0.0    # floating car data every this many simulated seconds; 0: off

    def __post_init__(self) -> None:
        refuse_invalid([
            (1 <= self.vehicles <= MAX_VEHICLES, f"vehicles must be 1..{MAX_VEHICLES}"),
            (2 <= self.grid <= 128, "grid must be 2..128 (edge ids are uint16)"),
            (self.alpha > 0 and self.beta > 0, "alpha and beta must be positive"),
            (0 <= self.spread <= 1, "spread must be within 0..1"),
            (1 <= self.duration_s <= 86_400, "duration_s must be 1..86400"),
            (0 <= self.demand_base <= 1 and 0 <= self.peak_at <= 1 and 0 < self.peak_width <= 1,
             "demand_base and peak_at must be within 0..1, peak_width within (0, 1]"),
            (1 <= self.min_hops <= self.max_hops, "need 1 <= min_hops <= max_hops"),
            (self.jam_limit > 0, "jam_limit must be positive"),
            (0 <= self.error_rate < 1, "error_rate must be within 0..1"),
            (0 <= self.fcd_period_s <= 3600, "fcd_period_s must be within 0..3600 (0: no FCD)"),
        ])

    @classmethod
    def from_dict(cls, d: dict) -> "TrafficConfig":
        return from_dict(cls, d, "traffic")


class TrafficSim:
    def __init__(self, config: TrafficConfig, worker: int = 0, workers: int = 1) -> None:
        if not 0 <= worker < workers <= config.grid:
            raise ValueError(f"worker {worker} of {workers}: need 0 <= worker < workers <= grid ({config.grid})")
        self.config, self.worker, self.workers = config, worker, workers
        self.network = net = grid(config.grid, config.grid, config.seed)
        self.edges = net.part_edges(worker, workers)
        self._next = net.successors(self.edges)
        self._start_edges = [e for e in self.edges if self._next[e]]
        self.vehicle_lo = worker * config.vehicles // workers
        self.vehicle_hi = (worker + 1) * config.vehicles // workers
        self._rng = random.Random(f"traffic-{config.seed}-{worker}")
        self._occ = [0] * net.n_edges
        self._jam = [config.jam_limit * c for c in net.capacity]
        n = self.vehicle_hi - self.vehicle_lo
        self._edge = [-1] * n     # current edge, -1 before departure
        self._hops = [0] * n      # edges still to take after the current one
        self.wide = config.vehicles > NARROW_VEHICLES
        # FCD: when each vehicle entered its edge and will leave it, which are on the road, the next sample
        self.fcd_ms = round(config.fcd_period_s * 1000)
        self._t_in, self._t_out, self._on_road, self._next_fcd = [0] * n, [0] * n, set(), 0
        self.fcd = tuple(array(f.typecode) for f in FCD.fields)
        # Departures wait in a sorted list; the heap holds only vehicles on the road.
        self._departures = sorted((self._departure_ms(), v) for v in range(n))
        self._next_departure = 0
        self._heap: list[tuple[int, int, int]] = []
        self._seq = 0
        self.sim_time_ms = 0
        self.stats = {"records": 0, "trips": 0, "traversals": 0, "blocked": 0, "routing_failures": 0, "fcd_records": 0}

    def _sample(self, at_ms: int) -> None:
        """One FCD record per vehicle on the road at ``at_ms`` (every event before it is applied)."""
        cur, t_in, t_out, length, base = self._edge, self._t_in, self._t_out, self.network.length_m, self.vehicle_lo
        times, vehicles, edges, positions, speeds = self.fcd
        for v in self._on_road:
            e, t0 = cur[v], t_in[v]
            span = t_out[v] - t0
            times.append(at_ms)
            vehicles.append(base + v)
            edges.append(e)
            positions.append(length[e] * (at_ms - t0) / span)
            speeds.append(1000.0 * length[e] / span)
        self.stats["fcd_records"] += len(self._on_road)

    def take_fcd(self) -> tuple:
        """The FCD columns sampled since the last call (then emptied)."""
        out = tuple(array(c.typecode, c) for c in self.fcd)
        for c in self.fcd:
            del c[:]
        return out

    def _departure_ms(self) -> int:
        c, rng = self.config, self._rng
        d = c.duration_s * 1000
        if rng.random() < c.demand_base:
            return int(rng.random() * d)
        while True:
            t = rng.gauss(c.peak_at * d, c.peak_width * d)
            if 0 <= t < d:
                return int(t)

    def describe(self) -> dict:
        """Run-level facts, identical in every worker (the edge table aside)."""
        c = self.config
        return {
            "ground_truth": {"alpha": c.alpha, "beta": c.beta, "spread": c.spread},
            "demand": {"duration_s": c.duration_s, "base": c.demand_base,
                       "peak_at_s": c.peak_at * c.duration_s, "peak_width_s": c.peak_width * c.duration_s},
            "travel_time": "t0 * (1 + alpha * (V/C)**beta) * lognormal(mean 1, log-sd spread);"
                           " V = vehicles on the edge at entry, including the entering one",
            "grid": {"rows": self.network.rows, "cols": self.network.cols},
        }

    @property
    def finished(self) -> bool:
        return not self._heap and self._next_departure == len(self._departures)

    def next_batch(self, min_records: int, span_ms: float = INF):
        """Process events until at least ``min_records`` records, ``span_ms`` of simulated
        time or the end, whichever comes first; columns or None."""
        if self.finished:
            return None
        c = self.config
        time, vehicle, edge, status = cols = tuple(array(f.typecode) for f in EVENTS_WIDE.fields) if self.wide \
            else new_columns()
        heap, occ, cur, hops, nxt, jam = self._heap, self._occ, self._edge, self._hops, self._next, self._jam
        t0, cap, starts = self.network.free_flow_s, self.network.capacity, self._start_edges
        alpha, beta, spread, error_rate = c.alpha, c.beta, c.spread, c.error_rate
        min_hops, span_hops = c.min_hops, c.max_hops - c.min_hops + 1
        mu = -spread * spread / 2  # log-mean that gives the noise a mean of 1
        # The hot loop draws from random() only and inlines Box-Muller and index
        # picks: Random.gauss/choice are Python-level and cost 3x the rest here.
        random_, exp, log, sqrt, cos, tau = self._rng.random, math.exp, math.log, math.sqrt, math.cos, math.tau
        pop, push = heapq.heappop, heapq.heappush
        t_app, v_app, e_app, s_app = time.append, vehicle.append, edge.append, status.append
        base, seq = self.vehicle_lo, self._seq
        departures, d = self._departures, self._next_departure
        next_dep = departures[d][0] if d < len(departures) else INF
        trips = traversals = blocked = failures = n = 0
        t = self.sim_time_ms
        horizon = min(heap[0][0] if heap else INF, next_dep) + span_ms
        fcd_ms, on_road, t_in, t_out = self.fcd_ms, self._on_road, self._t_in, self._t_out
        next_fcd = self._next_fcd if fcd_ms else INF
        while n < min_records:
            if heap and heap[0][0] <= next_dep:
                if heap[0][0] > horizon:
                    break
                t, _, v = pop(heap)
                e = cur[v]
            elif next_dep != INF and next_dep <= horizon:
                t, v = departures[d]
                d += 1
                next_dep = departures[d][0] if d < len(departures) else INF
                e = -1
            else:
                break
            while t >= next_fcd:
                self._sample(next_fcd)
                next_fcd += fcd_ms
            vid = base + v
            if e < 0:  # departure: an origin edge and a trip length
                trips += 1
                target = starts[int(random_() * len(starts))]
                hops[v] = min_hops - 1 + int(random_() * span_hops)
            else:
                occ[e] -= 1
                traversals += 1
                t_app(t); v_app(vid); e_app(e); s_app(EXIT)
                n += 1
                options = nxt[e]
                on_road.discard(v)  # back below if it takes another edge
                if hops[v] == 0 or not options:
                    continue  # trip complete
                if random_() < error_rate:
                    failures += 1
                    t_app(t); v_app(vid); e_app(e); s_app(ERROR)
                    n += 1
                    continue
                target = options[int(random_() * len(options))]
                hops[v] -= 1
            volume = occ[target] + 1
            if volume > jam[target]:
                blocked += 1
                t_app(t); v_app(vid); e_app(target); s_app(ERROR)
                n += 1
                continue
            occ[target] = volume
            cur[v] = target
            z = sqrt(-2.0 * log(1.0 - random_())) * cos(tau * random_())
            tt_ms = 1000.0 * t0[target] * (1.0 + alpha * (volume / cap[target]) ** beta) * exp(mu + spread * z)
            t_app(t); v_app(vid); e_app(target); s_app(ENTER)
            n += 1
            seq += 1
            leave = t + (int(tt_ms + 0.5) or 1)
            push(heap, (leave, seq, v))
            if fcd_ms:
                on_road.add(v)
                t_in[v], t_out[v] = t, leave
        self.sim_time_ms, self._seq, self._next_departure = t, seq, d
        if fcd_ms:
            self._next_fcd = next_fcd
        st = self.stats
        st["records"] += n
        st["trips"] += trips
        st["traversals"] += traversals
        st["blocked"] += blocked
        st["routing_failures"] += failures
        return cols


_DOCS = {
    "vehicles": ("Vehicles (all workers)", 1, MAX_VEHICLES),
    "grid": ("Grid size (nodes per side; at least one column per worker)", 2, 128),
    "alpha": ("BPR \u03b1 (ground truth)", 0.001, 10),
    "beta": ("BPR \u03b2 (ground truth)", 0.1, 12),
    "spread": ("Travel-time noise (log-sd)", 0, 1),
    "duration_s": ("Simulated departures window, s", 1, 86_400),
    "demand_base": ("Share of departures spread evenly", 0, 1),
    "peak_at": ("Demand peak, fraction of the window", 0, 1),
    "peak_width": ("Demand peak width, fraction of the window", 0.001, 1),
    "min_hops": ("Shortest trip, edges", 1, 1000),
    "max_hops": ("Longest trip, edges", 1, 1000),
    "jam_limit": ("V/C at which an edge refuses vehicles", 0.01, 100),
    "error_rate": ("Routing failures per transition", 0, 0.5),
    "fcd_period_s": ("Floating car data (fcd stream) every this many s; 0: off", 0, 3600),
}


class TrafficSource(Source):
    """Event-driven traffic on a generated road grid with BPR travel times (see vpslog.traffic)."""

    name, version = "traffic", "1.0"
    params = {k: Param(getattr(TrafficConfig, k), doc, lo, hi) for k, (doc, lo, hi) in _DOCS.items()}
    batch_records = 4096
    # A step covers at most this much simulated time: at real-time pace the model
    # (and the live view of it) moves with the clock, not a whole sparse run at once.
    step_span_ms = 1000

    def __init__(self, part, **params) -> None:
        super().__init__(part, **params)
        self.sim = TrafficSim(TrafficConfig(**self.params, seed=part.seed), part.worker, part.workers)

    @property
    def wide_ids(self) -> bool:
        return self.sim.wide

    def declared_streams(self) -> list:
        return [FCD] if self.params["fcd_period_s"] > 0 else []

    def run(self, log):
        sim = self.sim
        while (cols := sim.next_batch(self.batch_records, self.step_span_ms)) is not None:
            log.extend(*cols)
            if sim.fcd_ms:
                log.fcd.extend(*sim.take_fcd())
            yield

    def edges(self) -> dict:
        return self.sim.network.edge_table()

    def describe(self) -> dict:
        return self.sim.describe()

    @property
    def stats(self) -> dict:
        sim = self.sim
        return {**sim.stats, "vehicles": [sim.vehicle_lo, sim.vehicle_hi], "edges": len(sim.edges)}

    def view(self) -> dict:
        occ = self.sim._occ
        return {"edges": self.sim.edges, "occupancy": [occ[e] for e in self.sim.edges]}
