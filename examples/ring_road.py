"""A car-following ring road: the per-event example.

Every worker drives its own ring road of ``edges`` equal edges, ``length_m``
each, with ``vehicles`` cars following each other by the Intelligent Driver
Model (IDM, Treiber et al. 2000), integrated every ``dt`` seconds. Each step
is one ``yield``; a car that crosses an edge boundary logs ``exit`` of the old
edge and ``enter`` of the new one with the per-event calls. One car, chosen
at random, brakes hard now and then, so stop-and-go waves form and travel
times vary. Deterministic per seed.

    vpslog simulate --source examples/ring_road.py --workers 2 -p vehicles=60
"""

import math

import vpslog

__version__ = "1.0"


class RingRoad(vpslog.Source):
    """IDM cars on a ring road, one ring per worker; logs each edge change."""

    name, version = "ring-road", __version__
    params = {
        "vehicles": vpslog.Param(60, "Cars per ring (per worker)", 2, 2000),
        "edges": vpslog.Param(12, "Edges per ring", 2, 500),
        "length_m": vpslog.Param(150.0, "Edge length, m", 20, 2000),
        "minutes": vpslog.Param(20.0, "Simulated minutes", 0.1, 1440),
        "dt": vpslog.Param(0.5, "Time step, s", 0.05, 2),
        "v0": vpslog.Param(15.0, "Desired speed, m/s", 1, 50),
        "brake_every_s": vpslog.Param(30.0, "Mean seconds between hard brakings", 1, 3600),
    }
    # IDM constants: max acceleration, comfortable deceleration, gap, headway, car length (m, s)
    A, B, S0, T, CAR = 1.0, 1.5, 2.0, 1.5, 5.0

    def __init__(self, part, **params):
        super().__init__(part, **params)
        p = self.params
        self.ring = p["edges"] * p["length_m"]
        if p["vehicles"] * (self.CAR + self.S0) > self.ring:
            raise ValueError(f"{p['vehicles']} cars do not fit on a {self.ring:.0f} m ring")
        self.first_edge = part.worker * p["edges"]
        self.first_car = part.worker * p["vehicles"]
        if self.first_edge + p["edges"] > 65536 or self.first_car + p["vehicles"] > 65536:
            raise ValueError("edge and vehicle ids must fit 0..65535: fewer workers, edges or vehicles")
        self.rng = part.rng("ring")
        self.edge = []  # each car's edge, while running

    def edges(self):
        p, n = self.params, self.params["edges"]
        ids = range(n * self.part.workers)
        radius = self.ring / (2 * math.pi)
        angle = [2 * math.pi * (i % n) / n for i in ids]
        angle1 = [2 * math.pi * (i % n + 1) / n for i in ids]
        cx = [3 * radius * (i // n) for i in ids]  # the rings side by side
        return {"edge_id": list(ids), "length_m": [p["length_m"]] * len(ids),
                "free_flow_s": [p["length_m"] / p["v0"]] * len(ids),
                "capacity": [max(1, int(p["length_m"] / (self.CAR + self.S0)))] * len(ids),
                "x0": [c + radius * math.cos(a) for c, a in zip(cx, angle)],
                "y0": [radius * math.sin(a) for a in angle],
                "x1": [c + radius * math.cos(a) for c, a in zip(cx, angle1)],
                "y1": [radius * math.sin(a) for a in angle1]}

    def view(self):
        """Cars per edge of this worker's ring, for the page's map."""
        occ = [0] * self.params["edges"]
        for e in self.edge:
            occ[e] += 1
        return {"edges": range(self.first_edge, self.first_edge + len(occ)), "occupancy": occ}

    def run(self, log):
        p, rng = self.params, self.rng
        n, dt, v0, ring, seg = p["vehicles"], p["dt"], p["v0"], self.ring, p["length_m"]
        a, b, s0, T, car = self.A, self.B, self.S0, self.T, self.CAR
        x = [i * ring / n for i in range(n)]
        v = [0.0] * n
        self.edge = edge = [int(xi // seg) for xi in x]
        for i in range(n):
            log.enter(0, self.first_car + i, self.first_edge + edge[i])
        brake_p = dt / p["brake_every_s"]
        for step in range(1, int(p["minutes"] * 60 / dt) + 1):
            t_ms = round(step * dt * 1000)
            braking = int(rng.random() * n) if rng.random() < brake_p else -1
            acc = [0.0] * n
            for i in range(n):
                lead = (i + 1) % n
                gap = (x[lead] - x[i]) % ring - car
                s_star = s0 + max(0.0, v[i] * T + v[i] * (v[i] - v[lead]) / (2 * math.sqrt(a * b)))
                acc[i] = -3 * b if i == braking else a * (1 - (v[i] / v0) ** 4 - (s_star / max(gap, 0.1)) ** 2)
            for i in range(n):
                v[i] = max(0.0, v[i] + acc[i] * dt)
                x[i] = (x[i] + v[i] * dt) % ring
                e = int(x[i] // seg)
                if e != edge[i]:
                    log.exit(t_ms, self.first_car + i, self.first_edge + edge[i])
                    log.enter(t_ms, self.first_car + i, self.first_edge + e)
                    edge[i] = e
            yield
        for i in range(n):  # the run ends: every car leaves the road
            log.exit(t_ms, self.first_car + i, self.first_edge + edge[i])
