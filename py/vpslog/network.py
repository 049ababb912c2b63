"""Road network: a generated grid with an edge table, split into per-worker parts.

Each sim worker simulates its own vertical strip of the grid: the edges with
both ends in the strip, and its own range of vehicle ids. Parts share nothing,
so each worker's log is self-contained and the analysis can rebuild every
edge's occupancy from that worker's records alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_EDGES = 65535  # edge ids are uint16
SPEEDS_MS = (8.33, 13.89, 16.67)  # 30, 50, 60 km/h
VEHICLE_SPACING_M = 50.0  # one vehicle per lane per 50 m is "capacity"


@dataclass(frozen=True)
class Network:
    rows: int
    cols: int
    from_node: tuple[int, ...]
    to_node: tuple[int, ...]
    length_m: tuple[float, ...]
    free_flow_s: tuple[float, ...]
    capacity: tuple[int, ...]

    @property
    def n_edges(self) -> int:
        return len(self.from_node)

    def edge_table(self) -> dict[str, list]:
        """Columnar edge table, as stored in the run manifest; x/y are grid coordinates
        (column, row) of the edge's ends, for drawing the network."""
        x = [self.column_of(n) for n in range(self.rows * self.cols)]
        y = [n // self.cols for n in range(self.rows * self.cols)]
        return {
            "edge_id": list(range(self.n_edges)),
            "from_node": list(self.from_node),
            "to_node": list(self.to_node),
            "length_m": list(self.length_m),
            "free_flow_s": list(self.free_flow_s),
            "capacity": list(self.capacity),
            "x0": [x[n] for n in self.from_node], "y0": [y[n] for n in self.from_node],
            "x1": [x[n] for n in self.to_node], "y1": [y[n] for n in self.to_node],
        }

    def column_of(self, node: int) -> int:
        return node % self.cols

    def part_edges(self, worker: int, workers: int) -> list[int]:
        """Edges of worker's strip: both ends in columns [lo, hi)."""
        lo, hi = strip(worker, workers, self.cols)
        return [
            e for e in range(self.n_edges)
            if lo <= self.column_of(self.from_node[e]) < hi and lo <= self.column_of(self.to_node[e]) < hi
        ]

    def successors(self, edges: list[int]) -> dict[int, tuple[int, ...]]:
        """For each edge, the edges a vehicle may take next: within ``edges``, no U-turn."""
        allowed = set(edges)
        out: dict[int, list[int]] = {}
        for e in edges:
            out.setdefault(self.from_node[e], []).append(e)
        return {
            e: tuple(n for n in out.get(self.to_node[e], ()) if self.to_node[n] != self.from_node[e] and n in allowed)
            for e in edges
        }


def strip(worker: int, workers: int, cols: int) -> tuple[int, int]:
    return worker * cols // workers, (worker + 1) * cols // workers


def grid(rows: int, cols: int, seed: int) -> Network:
    """A rows x cols grid, two directed edges per neighbouring pair, deterministic per seed."""
    if rows < 2 or cols < 2:
        raise ValueError(f"grid must be at least 2x2, got {rows}x{cols}")
    n_edges = 2 * (rows * (cols - 1) + cols * (rows - 1))
    if n_edges > MAX_EDGES:
        raise ValueError(f"a {rows}x{cols} grid has {n_edges} edges; edge ids are uint16 (max {MAX_EDGES})")
    rng = random.Random(f"network-{seed}")
    f, t, length, t0, cap = [], [], [], [], []
    for r in range(rows):
        for c in range(cols):
            a = r * cols + c
            for b in ([a + 1] if c + 1 < cols else []) + ([a + cols] if r + 1 < rows else []):
                # both directions share the physical road: same length, speed and lanes
                meters = float(rng.randrange(100, 401))
                speed = rng.choice(SPEEDS_MS)
                lanes = 2 if rng.random() < 0.3 else 1
                for u, v in ((a, b), (b, a)):
                    f.append(u)
                    t.append(v)
                    length.append(meters)
                    t0.append(round(meters / speed, 3))
                    cap.append(max(2, round(lanes * meters / VEHICLE_SPACING_M)))
    return Network(rows, cols, tuple(f), tuple(t), tuple(length), tuple(t0), tuple(cap))
