"""The straightforward Polars version: lazy window expressions, streaming engine.

Same definitions as the DuckDB peer: occupancy as a cumulative sum over each
edge's events, the next event of the same vehicle on the same edge by shift."""

import polars as pl

from common import fit_and_print, load, main


def analyse(path: str) -> None:
    cols, edges = load(path)
    ev = pl.DataFrame(cols).lazy().with_row_index("i").filter(pl.col("status") != 3)
    g = (
        ev.with_columns(
            pl.when(pl.col("status") == 1).then(1).otherwise(-1).cum_sum().over("edge_id").alias("volume"))
        .sort("vehicle_id", "edge_id", "i")
        .with_columns(
            pl.col("status").shift(-1).alias("next_status"), pl.col("time_ms").shift(-1).alias("next_time"),
            pl.col("vehicle_id").shift(-1).alias("next_vehicle"), pl.col("edge_id").shift(-1).alias("next_edge"))
        .filter((pl.col("status") == 1) & (pl.col("next_status") == 2)
                & (pl.col("next_vehicle") == pl.col("vehicle_id")) & (pl.col("next_edge") == pl.col("edge_id")))
        .join(pl.DataFrame(edges).lazy().with_columns(pl.col("edge_id").cast(pl.UInt16)), on="edge_id")
        .select((pl.col("volume") / pl.col("capacity")).alias("vc"),
                ((pl.col("next_time") - pl.col("time_ms")) / 1000 / pl.col("free_flow_s")).log().alias("lr"))
        .group_by("vc").agg(pl.len().alias("n"), pl.col("lr").sum().alias("s"))
        .sort("vc")
        .collect(engine="streaming")
    )
    fit_and_print(g["n"].sum(), g["vc"], g["n"], g["s"])


if __name__ == "__main__":
    main(analyse)
