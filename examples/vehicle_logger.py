"""A connected fleet's on-board loggers: the declared-streams example.

Each worker drives ``vehicles`` cars round a ``ring_m`` ring road of ``lanes``
lanes (speed a bounded random walk, occasional lane changes) and keeps the three
logs of the vehicle-logger design, one stream each:

- ``telemetry``: every car's own state at ``telemetry_hz`` (100 Hz by default):
  position ``x``/``y`` (m, ring centre at 0,0), ``speed`` (m/s), ``accel`` (m/s²), ``lane``.
  Logged per record: ``log.telemetry(...)``.
- ``fleet``: the estimations a car *receives* from other cars. Every car
  broadcasts its position and speed at ``broadcast_hz``; every other car within
  ``range_m`` receives it after a random latency (up to ``latency_ms``), unless
  the message is lost (``loss``). ``time_ms`` is the receive time, ``sent_ms``
  the sender's, so the stream is in receive order. Logged per record.
- ``local``: each car's own estimation at ``broadcast_hz``: a noisy position fix
  (``gnss_sd_m``) blended with dead reckoning, with its distance to the truth
  (``error_m``). Logged columnar, one ``log.local.extend(...)`` per fix.

Deterministic from the seed; cars of worker ``w`` have ids ``w * vehicles ...``.

    vpslog simulate --source examples/vehicle_logger.py --workers 2 -p vehicles=10
"""

import heapq
import math

import vpslog

__version__ = "1.0"


class VehicleLogger(vpslog.Source):
    """A connected fleet logging telemetry, received fleet estimations and local estimations."""

    name, version = "vehicle-logger", __version__
    params = {
        "vehicles": vpslog.Param(20, "Cars per worker", 1, 1000),
        "minutes": vpslog.Param(2.0, "Simulated minutes", 0.01, 1440),
        "lanes": vpslog.Param(3, "Lanes", 1, 8),
        "ring_m": vpslog.Param(2000.0, "Ring length, m", 100, 100_000),
        "telemetry_hz": vpslog.Param(100, "Telemetry rate, Hz (divides 1000)", 1, 1000),
        "broadcast_hz": vpslog.Param(10, "Broadcast and local estimation rate, Hz (divides telemetry_hz)", 1, 100),
        "range_m": vpslog.Param(300.0, "Radio range, m", 1, 10_000),
        "loss": vpslog.Param(0.1, "Share of messages lost", 0, 1),
        "latency_ms": vpslog.Param(50, "Largest radio latency, ms", 1, 1000),
        "gnss_sd_m": vpslog.Param(2.0, "Position fix noise (sd), m", 0, 100),
    }
    streams = [
        vpslog.Stream("telemetry", time_ms="uint32", vehicle="uint32", x="float32", y="float32",
                      speed="float32", accel="float32", lane="uint8"),
        vpslog.Stream("fleet", time_ms="uint32", sent_ms="uint32", sender="uint32", receiver="uint32",
                      x="float32", y="float32", speed="float32"),
        vpslog.Stream("local", time_ms="uint32", vehicle="uint32", x="float32", y="float32",
                      speed="float32", error_m="float32"),
    ]
    LANE_M, V_MAX, A_MAX = 3.5, 30.0, 2.0

    def __init__(self, part, **params):
        super().__init__(part, **params)
        p = self.params
        if 1000 % p["telemetry_hz"] or p["telemetry_hz"] % p["broadcast_hz"]:
            raise ValueError("telemetry_hz must divide 1000 and broadcast_hz must divide telemetry_hz")
        self.rng = part.rng("fleet")
        n, r = p["vehicles"], self.rng
        self.ids = [part.worker * n + i for i in range(n)]
        self.s = [p["ring_m"] * i / n for i in range(n)]        # distance along the ring
        self.v = [r.uniform(10, 25) for _ in range(n)]
        self.a = [0.0] * n
        self.lane = [r.randrange(p["lanes"]) for _ in range(n)]
        self.est = [None] * n                                    # local estimate (x, y, speed)
        self.inbox = []                                          # (receive ms, seq, sent ms, sender, receiver, x, y, speed)
        self.sent = 0

    def xy(self, i):
        p = self.params
        radius = p["ring_m"] / math.tau + self.LANE_M * self.lane[i]
        angle = math.tau * self.s[i] / p["ring_m"]
        return radius * math.cos(angle), radius * math.sin(angle)

    def run(self, log):
        p, r = self.params, self.rng
        dt_ms = 1000 // p["telemetry_hz"]
        every = p["telemetry_hz"] // p["broadcast_hz"]
        telemetry, fleet = log.telemetry, log.fleet
        for tick in range(round(p["minutes"] * 60_000 / dt_ms)):
            t = tick * dt_ms
            self.move(dt_ms / 1000)
            for i, vid in enumerate(self.ids):
                x, y = self.xy(i)
                telemetry(t, vid, x, y, self.v[i], self.a[i], self.lane[i])
            if tick % every == 0:
                self.broadcast(t)
                self.estimate(t, log.local, every * dt_ms / 1000)
            inbox = self.inbox
            while inbox and inbox[0][0] <= t:
                fleet(*_received(heapq.heappop(inbox)))
            yield

    def move(self, dt):
        p, r, n = self.params, self.rng, len(self.ids)
        for i in range(n):
            a = max(-self.A_MAX, min(self.A_MAX, self.a[i] + r.gauss(0, 0.2)))
            v = self.v[i] + a * dt
            if not 0 <= v <= self.V_MAX:
                v, a = max(0.0, min(self.V_MAX, v)), 0.0
            self.a[i], self.v[i] = a, v
            self.s[i] = (self.s[i] + v * dt) % p["ring_m"]
            if r.random() < 0.0005:
                self.lane[i] = max(0, min(p["lanes"] - 1, self.lane[i] + r.choice((-1, 1))))

    def broadcast(self, t):
        p, r, n, ring = self.params, self.rng, len(self.ids), self.params["ring_m"]
        for i in range(n):
            x, y = self.xy(i)
            for j in range(n):
                gap = abs(self.s[i] - self.s[j])
                if i == j or min(gap, ring - gap) > p["range_m"] or r.random() < p["loss"]:
                    continue
                self.sent += 1
                heapq.heappush(self.inbox, (t + 1 + r.randrange(p["latency_ms"]), self.sent, t, self.ids[i],
                                            self.ids[j], x, y, self.v[i]))

    def estimate(self, t, local, dt):
        p, r = self.params, self.rng
        cols = [[], [], [], [], [], []]
        for i, vid in enumerate(self.ids):
            x, y = self.xy(i)
            fx, fy = x + r.gauss(0, p["gnss_sd_m"]), y + r.gauss(0, p["gnss_sd_m"])
            if self.est[i] is None:
                ex, ey = fx, fy
            else:  # dead reckoning along the previous estimate's heading, blended with the fix
                px, py, _ = self.est[i]
                heading = math.atan2(py, px) + math.pi / 2
                ex = 0.7 * (px + self.v[i] * dt * math.cos(heading)) + 0.3 * fx
                ey = 0.7 * (py + self.v[i] * dt * math.sin(heading)) + 0.3 * fy
            self.est[i] = (ex, ey, self.v[i])
            for c, value in zip(cols, (t, vid, ex, ey, self.v[i], math.hypot(ex - x, ey - y))):
                c.append(value)
        local.extend(*cols)

    @property
    def stats(self):
        return {"messages_sent": self.sent, "in_flight": len(self.inbox)}


def _received(message):
    """A message from the inbox as a fleet record: receive time, sent time, sender, receiver, x, y, speed."""
    received, _seq, *rest = message
    return (received, *rest)
