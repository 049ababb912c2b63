"""Traversals of one edge partition: pair each vehicle's enter/exit per edge and
rebuild V (vehicles on the edge at entry, including the entering one)."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..record import Status
from ._scan import Partition

ENTER, EXIT, ERROR = int(Status.ENTER), int(Status.EXIT), int(Status.ERROR)


def traversals(part: Partition) -> tuple[pl.DataFrame, dict, pl.DataFrame]:
    """(traversals: edge, vehicle, t_enter, t_exit, volume), counts, error events."""
    df = pl.DataFrame({
        "idx": part.idx, "t": part.time_ms, "vehicle": part.vehicle, "edge": part.edge, "status": part.status,
    })
    errors = df.filter(pl.col("status") == ERROR).select(
        pl.col("t").alias("time_ms"), pl.col("vehicle").alias("vehicle_id"), pl.col("edge").alias("edge_id"))
    ev = df.filter(pl.col("status") != ERROR)
    # Occupancy after each event, per edge, in log order: the rows are in log
    # order already (the scan keeps idx ascending) and over() keeps row order.
    ev = ev.with_columns(
        pl.when(pl.col("status") == ENTER).then(1).otherwise(-1).cast(pl.Int32)
        .cum_sum().over("edge").alias("occupancy")
    )
    # A vehicle's next event on the same edge after an enter must be its exit.
    ev = ev.sort(["edge", "vehicle", "idx"])
    nxt = {c: pl.col(c).shift(-1) for c in ("edge", "vehicle", "status", "t")}
    ev = ev.with_columns(
        (
            (pl.col("status") == ENTER) & (nxt["status"] == EXIT)
            & (nxt["edge"] == pl.col("edge")) & (nxt["vehicle"] == pl.col("vehicle"))
        ).fill_null(False).alias("paired"),
        nxt["t"].alias("t_exit"),
    )
    trav = ev.filter(pl.col("paired")).select(
        "edge", "vehicle", pl.col("t").alias("t_enter"), "t_exit", pl.col("occupancy").alias("volume"))
    enters = int((ev["status"] == ENTER).sum())
    exits = len(ev) - enters
    counts = {
        "traversals": len(trav),
        "unpaired_enters": enters - len(trav),
        "unpaired_exits": exits - len(trav),
        "errors": len(errors),
    }
    return trav, counts, errors


def with_edge_facts(trav: pl.DataFrame, t0: np.ndarray, cap: np.ndarray) -> pl.DataFrame:
    e = trav["edge"].to_numpy()
    return trav.with_columns(
        ((pl.col("t_exit") - pl.col("t_enter")).cast(pl.Float64) / 1000.0).alias("travel_s"),
        pl.Series("t0_s", t0[e]),
        pl.Series("capacity", cap[e]),
    ).with_columns(
        (pl.col("travel_s") / pl.col("t0_s")).alias("tt_ratio"),
        (pl.col("volume") / pl.col("capacity")).alias("vc"),
    )
