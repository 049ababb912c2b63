"""A load source with two declared streams beside its events, for `bench/streams.py`.

Loaded into the page as a user's file. Per simulated millisecond it logs the
load generator's events (`vpslog.loadgen`, the events-only baseline's own
source) and, in the same millisecond, columnar records of two streams shaped
like a connected fleet's logs:

- ``telemetry`` (21 bytes: u32 time, u32 vehicle, 3 x f32 x/y/speed, u8 lane),
  each car in turn;
- ``fleet`` (28 bytes: u32 receive time, u32 send time, u32 sender, u32
  receiver, 3 x f32), estimations received from other cars.

Values come from pools drawn once per worker from cars moving round a ring
road (a bounded random walk of speed, so positions and speeds are smooth
series), sliced at a moving offset the way the load generator slices its own
pools: generating costs little next to packing, so the run measures the
pipeline. Every record is packed by ``log.<stream>.extend`` as it is logged;
nothing is a copy of an earlier buffer.
"""

import math
from array import array

import vpslog
from vpslog.loadgen import LoadConfig, SyntheticLoad

POOL = 1 << 16
RING_M, V_MAX = 2000.0, 30.0


def ring_pools(rng, n):
    """x, y, speed of cars on a ring road, ``n`` consecutive 10 ms samples, doubled
    so any slice [o, o + k) with o < n and k <= n is valid; and lanes."""
    xs, ys, vs, lanes = array("f"), array("f"), array("f"), array("B")
    s, v, lane, radius = 0.0, 15.0, 1, RING_M / math.tau
    for _ in range(n):
        v = max(0.0, min(V_MAX, v + rng.gauss(0, 0.05)))
        s = (s + v * 0.01) % RING_M
        if rng.random() < 0.0005:
            lane = max(0, min(2, lane + rng.choice((-1, 1))))
        angle = math.tau * s / RING_M
        r = radius + 3.5 * lane
        xs.append(r * math.cos(angle)), ys.append(r * math.sin(angle)), vs.append(v), lanes.append(lane)
    return [c * 2 for c in (xs, ys, vs, lanes)]


class StreamLoad(vpslog.Source):
    """Load events plus telemetry and fleet streams at fixed rates (bench)."""

    name, version = "stream-load", "1.0"
    params = {
        "rate": vpslog.Param(1_000_000, "Events/s per worker", 1, 50_000_000),
        "telemetry_rate": vpslog.Param(500_000, "Telemetry records/s per worker", 1, 10_000_000),
        "fleet_rate": vpslog.Param(300_000, "Fleet records/s per worker", 1, 10_000_000),
        "vehicles": vpslog.Param(20_000, "Vehicle ids", 2, 65536),
    }
    streams = [
        vpslog.Stream("telemetry", time_ms="uint32", vehicle="uint32", x="float32", y="float32", speed="float32",
                      lane="uint8"),
        vpslog.Stream("fleet", time_ms="uint32", sent_ms="uint32", sender="uint32", receiver="uint32",
                      x="float32", y="float32", speed="float32"),
    ]
    batch_records = 8192  # events per step: the other streams' records stay well under a pool

    def __init__(self, part, **params):
        super().__init__(part, **params)
        p = self.params
        self.load = SyntheticLoad(LoadConfig(rate=p["rate"], vehicles=p["vehicles"], seed=part.seed),
                                  part.worker, part.workers)
        rng = part.rng("stream-load")
        n = p["vehicles"]
        base = part.worker * n
        self.cars = array("I", [base + i % n for i in range(POOL)]) * 2
        self.senders = array("I", [base + rng.randrange(n) for _ in range(POOL)]) * 2
        self.receivers = array("I", [base + rng.randrange(n) for _ in range(POOL)]) * 2
        self.latency = [1 + rng.randrange(50) for _ in range(POOL)]
        self.pools = ring_pools(rng, POOL)
        self.at = {"telemetry": 0, "fleet": 0}  # pool offsets
        self.owed = {"telemetry": 0, "fleet": 0}  # records owed to the next ms, in thousandths

    def times(self, stream, first, last):
        """The time column of ``stream``'s records for milliseconds first..last (its
        rate's share of each), the per-ms counts, and where its pools are sliced."""
        rate, owed, times, counts = self.params[f"{stream}_rate"], self.owed[stream], array("I"), []
        for t in range(first, last + 1):
            owed += rate
            k = owed // 1000
            owed -= k * 1000
            times.extend(array("I", [t]) * k)
            counts.append((t, k))
        self.owed[stream] = owed
        o = self.at[stream]
        self.at[stream] = (o + len(times)) % POOL
        return times, counts, o

    def run(self, log):
        load, telemetry, fleet = self.load, log.telemetry.extend, log.fleet.extend
        xs, ys, vs, lanes = self.pools
        while (cols := load.next_batch(self.batch_records)) is not None:
            log.extend(*cols)
            first, last = cols[0][0], cols[0][-1]  # a batch is whole milliseconds
            times, _, o = self.times("telemetry", first, last)
            k = len(times)
            telemetry(times, self.cars[o:o + k], xs[o:o + k], ys[o:o + k], vs[o:o + k], lanes[o:o + k])
            times, counts, o = self.times("fleet", first, last)
            k = len(times)
            sent = array("I")
            for t, n in counts:  # each millisecond's receptions were sent one latency earlier
                sent.extend(array("I", [max(0, t - self.latency[(o + t) % POOL])]) * n)
            fleet(times, sent, self.senders[o:o + k], self.receivers[o:o + k], xs[o:o + k], ys[o:o + k], vs[o:o + k])
            yield

    @property
    def stats(self):
        return self.load.stats
