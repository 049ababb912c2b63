"""Synthetic load generator: a documented event source for load tests.

It emits ``rate`` events per simulated second with vehicle and edge ids drawn
from ``vehicles`` and ``edges`` and a status pattern of enter/exit pairs with
``error_rate`` of them replaced by errors.  It is built for throughput, not
realism: random values come from pre-drawn pools that are sliced (C speed)
rather than drawn per record, so generation costs little next to packing.

:class:`LoadSource` offers it through the public source API (``vpslog.Source``).
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass

from ._options import from_dict, refuse_invalid
from .packer import TYPECODES, new_columns
from .record import Status
from .source import Param, Source

_POOL = 1 << 16


@dataclass(frozen=True)
class LoadConfig:
    rate: int = 200_000          # events per simulated second
    vehicles: int = 20_000       # distinct vehicle ids 0..vehicles-1 (<= 65536)
    edges: int = 4_000           # distinct edge ids 0..edges-1 (<= 65536)
    error_rate: float = 0.001    # share of events with status error
    seed: int = 1
    duration_ms: int | None = None  # stop after this much simulated time; None = until stopped

    def __post_init__(self) -> None:
        refuse_invalid([
            (1 <= self.rate <= 50_000_000, f"rate must be 1..50000000 events/s, got {self.rate}"),
            (1 <= self.vehicles <= 65536, f"vehicles must be 1..65536 (ids are uint16), got {self.vehicles}"),
            (1 <= self.edges <= 65536, f"edges must be 1..65536 (ids are uint16), got {self.edges}"),
            (0.0 <= self.error_rate <= 1.0, f"error_rate must be within 0..1, got {self.error_rate}"),
            (self.duration_ms is None or 0 < self.duration_ms < 2**32,
             f"duration_ms must be 1..{2**32 - 1}, got {self.duration_ms}"),
        ])

    @classmethod
    def from_dict(cls, d: dict) -> "LoadConfig":
        return from_dict(cls, d, "load generator")


class SyntheticLoad:
    def __init__(self, config: LoadConfig, worker: int = 0, workers: int = 1) -> None:
        self.config, self.worker, self.workers = config, worker, workers
        rng = random.Random(f"load-{config.seed}-{worker}")
        # The pools are the run's start-up cost (time to first record): bound
        # methods, and randrange(n)'s own draw (_randbelow, the same stream
        # without its argument checks), make them ~40 % cheaper.
        draw, below, error_rate = rng.random, rng._randbelow, config.error_rate
        statuses = [Status.ERROR if draw() < error_rate else Status.ENTER if i % 2 == 0 else Status.EXIT
                    for i in range(_POOL)]
        # Doubled pools: any slice [o, o + k) with o < _POOL and k <= _POOL is valid.
        self._pools = [
            array(TYPECODES[1], [below(config.vehicles) for _ in range(_POOL)]) * 2,
            array(TYPECODES[2], [below(config.edges) for _ in range(_POOL)]) * 2,
            array(TYPECODES[3], statuses) * 2,
        ]
        self._offset = 0
        self._carry = 0  # events owed to the next ms, in thousandths of an event
        self.sim_time_ms = 0
        self.stats = {"records": 0}

    @property
    def finished(self) -> bool:
        d = self.config.duration_ms
        return d is not None and self.sim_time_ms >= d

    def next_batch(self, min_records: int):
        """Events for whole simulated milliseconds, at least ``min_records`` unless finished."""
        if self.finished:
            return None
        time, vehicle, edge, status = cols = new_columns()
        n = 0
        rate = self.config.rate
        end = self.config.duration_ms
        while n < min_records and (end is None or self.sim_time_ms < end):
            owed = self._carry + rate
            k = min(owed // 1000, _POOL)
            self._carry = owed - k * 1000
            if k:
                o = self._offset
                time.extend(array(TYPECODES[0], [self.sim_time_ms]) * k)
                vehicle.extend(self._pools[0][o : o + k])
                edge.extend(self._pools[1][o : o + k])
                status.extend(self._pools[2][o : o + k])
                self._offset = (o + k) % _POOL
                n += k
            self.sim_time_ms += 1
        self.stats["records"] += n
        return cols


class LoadSource(Source):
    """Synthetic enter/exit/error events at a fixed rate, for load tests (no edge table)."""

    name, version = "load", "1.0"
    params = {
        "rate": Param(LoadConfig.rate, "Events/s per worker", 1, 50_000_000),
        "vehicles": Param(LoadConfig.vehicles, "Vehicle ids", 1, 65536),
        "edges": Param(LoadConfig.edges, "Edge ids", 1, 65536),
        "error_rate": Param(LoadConfig.error_rate, "Error share", 0, 1),
        "duration_ms": Param(0, "Simulated length, ms (0 = until stopped)", 0, 2**32 - 1),
    }
    batch_records = 8192

    def __init__(self, part, **params) -> None:
        super().__init__(part, **params)
        opts = {**self.params, "duration_ms": self.params["duration_ms"] or None}
        self.load = SyntheticLoad(LoadConfig(**opts, seed=part.seed), part.worker, part.workers)

    def run(self, log):
        load = self.load
        while (cols := load.next_batch(self.batch_records)) is not None:
            log.extend(*cols)
            yield

    @property
    def stats(self) -> dict:
        return self.load.stats
