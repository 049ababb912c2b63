"""A telemetry model for the alternative bench: every car's state at every step.

IDM cars (Treiber et al. 2000) on a looped multi-lane highway, each lane a
queue of followers; one car brakes hard now and then, so speeds and gaps vary
as they do in a real car-following run. Each step logs one ``telemetry``
record per car (the FCD shape: time, vehicle, x, y, speed, lane) with one
columnar call, ``log.stream("telemetry").extend(...)``, the form declared
streams take (docs/streams.md).

Only IEEE-exact float operations (+ - * / % and sqrt; no libm call such as pow
or cos), so Pyodide and CPython make the very same records from the same seed:
the bench's tests compare them exactly.
"""

from __future__ import annotations

import math
from array import array

import vpslog
from vpslog.layout import resolve

TELEMETRY = resolve("telemetry", [("time_ms", "uint32"), ("vehicle_id", "uint32"), ("x", "float32"),
                                  ("y", "float32"), ("speed", "float32"), ("lane", "uint8")])


class Highway(vpslog.Source):
    """IDM cars on a looped highway, one per worker; logs every car every step."""

    name, version = "highway", "1.0"
    params = {
        "vehicles": vpslog.Param(4096, "Cars per worker (records per step)", 2, 1 << 20),
        "lanes": vpslog.Param(4, "Lanes", 1, 8),
        "dt": vpslog.Param(0.1, "Time step, s", 0.01, 2),
        "steps": vpslog.Param(0, "Steps to run (0 = until stopped)", 0, 1 << 31),
    }
    streams = (TELEMETRY,)
    # IDM constants: desired speed, max acceleration, comfortable deceleration, gap, headway, car length
    V0, A, B, S0, T, CAR = 30.0, 1.0, 1.5, 2.0, 1.5, 5.0
    LANE_M = 3.5
    TWO_SQRT_AB = 2 * math.sqrt(A * B)  # sqrt is exact IEEE everywhere; pow is libm's

    def run(self, log):
        p, rng = self.params, self.part.rng("highway")
        n, lanes, dt = p["vehicles"], p["lanes"], p["dt"]
        per_lane = -(-n // lanes)
        loop = per_lane * 40.0  # 40 m per car: dense enough for waves to form
        lane = array(TELEMETRY.field("lane").typecode, [i % lanes for i in range(n)])
        ids = array(TELEMETRY.field("vehicle_id").typecode, range(self.part.worker * n, (self.part.worker + 1) * n))
        x = [(i // lanes) * loop / per_lane for i in range(n)]
        v = [self.V0 * (0.5 + 0.5 * rng.random()) for _ in range(n)]
        y = array(TELEMETRY.field("y").typecode, [self.LANE_M * k for k in lane])
        # Car i follows the next car in its lane; the last of a lane follows the first.
        lead = [i + lanes if i + lanes < n else i % lanes for i in range(n)]
        real = TELEMETRY.field("x").typecode
        tel = log.stream("telemetry")
        step = 0
        while not p["steps"] or step < p["steps"]:
            step += 1
            braking = int(rng.random() * n) if rng.random() < dt / 5 else -1
            acc = [self._idm(v[i], v[lead[i]], (x[lead[i]] - x[i]) % loop - self.CAR) for i in range(n)]
            if braking >= 0:
                acc[braking] = -3 * self.B
            v = [max(0.0, vi + ai * dt) for vi, ai in zip(v, acc)]
            x = [(xi + vi * dt) % loop for xi, vi in zip(x, v)]
            t = array(TELEMETRY.field("time_ms").typecode, [round(step * dt * 1000)]) * n
            tel.extend(t, ids, array(real, x), y, array(real, v), lane)
            yield

    def _idm(self, v, v_lead, gap):
        s_star = self.S0 + max(0.0, v * self.T + v * (v - v_lead) / self.TWO_SQRT_AB)
        r, s = v / self.V0, s_star / max(gap, 0.1)
        return self.A * (1 - r * r * r * r - s * s)
