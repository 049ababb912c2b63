"""Traversals of one edge partition: pair each vehicle's enter/exit per edge and
rebuild V (vehicles on the edge at entry, including the entering one).

Both steps share two stable sorts, by edge then by vehicle, both O(n) radix sorts
(uint16 ids of events, and uint32 ids of events_wide, see ``_stable_order``), and
vectorised comparisons of neighbouring rows."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..record import Status
from ._scan import Partition

ENTER, EXIT, ERROR = int(Status.ENTER), int(Status.EXIT), int(Status.ERROR)


def _stable_order(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")``. numpy radix-sorts keys of at most 16 bits and
    merge-sorts wider ones ~3x slower, so a 32-bit key is sorted as its offset from its minimum
    when that fits 16 bits, else in two stable 16-bit passes (low half, then high half)."""
    if key.dtype.itemsize <= 2 or not len(key):
        return np.argsort(key, kind="stable")
    low = key.min()
    if int(key.max()) - int(low) < 1 << 16:
        return np.argsort((key - low).astype(np.uint16), kind="stable")
    order = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
    return order[np.argsort((key[order] >> 16).astype(np.uint16), kind="stable")]


def _occupancy(edge, status, order) -> np.ndarray:
    """Vehicles on each row's edge just after that row, replaying each edge in log order
    (``order``: the rows by edge, in log order within an edge)."""
    delta = np.where(status[order] == ENTER, 1, -1).astype(np.int32)
    running = np.cumsum(delta, dtype=np.int64)
    e = edge[order]
    starts = np.flatnonzero(np.r_[True, e[1:] != e[:-1]]) if len(e) else np.empty(0, np.int64)
    before = running[starts] - delta[starts]  # running total before each edge's first row
    out = np.empty(len(edge), np.int32)
    out[order] = running - np.repeat(before, np.diff(np.r_[starts, len(e)]))
    return out


def traversals(part: Partition) -> tuple[pl.DataFrame, dict, pl.DataFrame]:
    """(traversals: edge, vehicle, t_enter, t_exit, volume), counts, error events."""
    err = part.status == ERROR
    errors = pl.DataFrame({"time_ms": part.time_ms[err], "vehicle_id": part.vehicle[err], "edge_id": part.edge[err]})
    keep = ~err
    t, veh, edge, st = part.time_ms[keep], part.vehicle[keep], part.edge[keep], part.status[keep]
    by_edge = _stable_order(edge)
    occupancy = _occupancy(edge, st, by_edge)
    # (vehicle, edge, log order): a vehicle's next event on an edge after entering it must be its exit
    order = by_edge[_stable_order(veh[by_edge])]
    s, e, v = st[order], edge[order], veh[order]
    paired = (s[:-1] == ENTER) & (s[1:] == EXIT) & (e[:-1] == e[1:]) & (v[:-1] == v[1:])
    i = np.flatnonzero(paired)
    trav = pl.DataFrame({
        "edge": e[i], "vehicle": v[i], "t_enter": t[order[i]], "t_exit": t[order[i + 1]],
        "volume": occupancy[order[i]],
    })
    enters = int(np.count_nonzero(st == ENTER))
    counts = {
        "traversals": len(i),
        "unpaired_enters": enters - len(i),
        "unpaired_exits": len(st) - enters - len(i),
        "errors": int(err.sum()),
    }
    return trav, counts, errors


def with_travel_times(trav: pl.DataFrame) -> pl.DataFrame:
    return trav.with_columns(((pl.col("t_exit") - pl.col("t_enter")).cast(pl.Float64) / 1000.0).alias("travel_s"))


def with_edge_facts(trav: pl.DataFrame, t0: np.ndarray, cap: np.ndarray, row: np.ndarray) -> pl.DataFrame:
    """t0 and capacity of each traversal's edge table ``row`` (null for -1: an edge the table
    lacks), then T/t0 and V/C."""
    on = row >= 0
    return with_travel_times(trav).with_columns(
        pl.Series("t0_s", np.where(on, t0[row], np.nan)).fill_nan(None),
        pl.Series("capacity", np.where(on, cap[row], np.nan)).fill_nan(None),
    ).with_columns(
        (pl.col("travel_s") / pl.col("t0_s")).alias("tt_ratio"),
        (pl.col("volume") / pl.col("capacity")).alias("vc"),
    )
