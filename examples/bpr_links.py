"""Independent road links with BPR travel times: the vectorised example.

Each worker owns a share of ``links`` links (edges). Every simulated second,
arrivals on each link follow a demand wave; an arriving vehicle's travel
time is ``t0 * (1 + alpha * (V/C)**beta) * noise`` with V the vehicles on the
link including itself. A step builds that second's exits and enters as
columns and logs them with ONE ``log.extend`` call. The edge table carries
t0 and C, so ``vpslog analyze`` fits the BPR curve and should recover
``alpha`` and ``beta``. Standard library only, deterministic per seed.

    vpslog simulate --source examples/bpr_links.py --workers 2 -p alpha=0.5
"""

import heapq
import math
import random
from array import array

import vpslog

__version__ = "1.0"
ENTER, EXIT = 1, 2


class BprLinks(vpslog.Source):
    """Links whose travel time follows the BPR law; one extend() per simulated second."""

    name, version = "bpr-links", __version__
    params = {
        "links": vpslog.Param(200, "Links in all (shared among workers)", 1, 30000),
        "minutes": vpslog.Param(30.0, "Simulated minutes", 0.1, 1440),
        "alpha": vpslog.Param(0.5, "BPR alpha (ground truth)", 0.01, 10),
        "beta": vpslog.Param(3.0, "BPR beta (ground truth)", 0.5, 10),
        "spread": vpslog.Param(0.05, "Travel-time noise (log-sd)", 0, 1),
        "peak_vc": vpslog.Param(1.3, "Demand at the wave's crest, as V/C", 0.1, 5),
    }

    def __init__(self, part, **params):
        super().__init__(part, **params)
        rng = random.Random(f"bpr-links-{part.seed}")  # the same table in every worker: no worker in the seed
        n = self.params["links"]
        self.t0 = [round(rng.uniform(20, 90), 1) for _ in range(n)]
        self.cap = [rng.randrange(5, 40) for _ in range(n)]
        self.mine = part.share(n)
        self.cars = part.share(65536)
        self.rng = part.rng("demand")

    def edges(self):
        n = self.params["links"]
        return {"edge_id": list(range(n)), "free_flow_s": self.t0, "capacity": self.cap}

    def describe(self):
        p = self.params
        return {"ground_truth": {"alpha": p["alpha"], "beta": p["beta"], "spread": p["spread"]}}

    def run(self, log):
        p, rng = self.params, self.rng
        alpha, beta, spread = p["alpha"], p["beta"], p["spread"]
        mu = -spread * spread / 2
        occ = {e: 0 for e in self.mine}
        free = list(reversed(self.cars))
        due = []  # (exit ms, vehicle, edge)
        for sec in range(int(p["minutes"] * 60)):
            t = sec * 1000
            wave = p["peak_vc"] * (0.5 - 0.5 * math.cos(2 * math.pi * sec / 900))
            ts, vs, es, ss = array("I"), array("H"), array("H"), array("B")
            while due and due[0][0] <= t:
                te, v, e = heapq.heappop(due)
                ts.append(te), vs.append(v), es.append(e), ss.append(EXIT)
                occ[e] -= 1
                free.append(v)
            for e in self.mine:
                rate = wave * self.cap[e] / self.t0[e]  # arrivals/s that hold V/C near the wave
                k = int(rate) + (rng.random() < rate - int(rate))
                for _ in range(k):
                    if not free:
                        break
                    v = free.pop()
                    occ[e] += 1
                    tt = self.t0[e] * (1 + alpha * (occ[e] / self.cap[e]) ** beta) * math.exp(mu + spread * rng.gauss(0, 1))
                    heapq.heappush(due, (t + max(1, round(tt * 1000)), v, e))
                    ts.append(t), vs.append(v), es.append(e), ss.append(ENTER)
            log.extend(ts, vs, es, ss)
            yield
        while due:  # demand has ended: the vehicles still on a link finish it
            te, v, e = heapq.heappop(due)
            log.exit(te, v, e)
