"""The straightforward DuckDB version: window functions over the whole log.

Occupancy V = running sum of +1 (enter) / -1 (exit) per edge in log order;
a traversal = an enter whose next event of the same vehicle on the same edge is
an exit; V/C and log(T/t0) aggregated per distinct V/C, then the SciPy fit."""

import duckdb
import polars as pl

from common import fit_and_print, load, main

SQL = """
WITH ev AS (
  SELECT i, time_ms, vehicle_id, edge_id, status FROM recs WHERE status IN (1, 2)
), w AS (
  SELECT *,
    SUM(CASE WHEN status = 1 THEN 1 ELSE -1 END) OVER (PARTITION BY edge_id ORDER BY i ROWS UNBOUNDED PRECEDING) AS volume,
    LEAD(status) OVER (PARTITION BY vehicle_id, edge_id ORDER BY i) AS next_status,
    LEAD(time_ms) OVER (PARTITION BY vehicle_id, edge_id ORDER BY i) AS next_time
  FROM ev
), trav AS (
  SELECT w.volume / e.capacity AS vc, ln((w.next_time - w.time_ms) / 1000.0 / e.free_flow_s) AS lr
  FROM w JOIN edges e USING (edge_id)
  WHERE w.status = 1 AND w.next_status = 2
)
SELECT vc, count(*) AS n, sum(lr) AS s FROM trav GROUP BY vc ORDER BY vc
"""


def analyse(path: str) -> None:
    cols, edges = load(path)
    recs = pl.DataFrame(cols).with_row_index("i")  # log order, explicit
    edges = pl.DataFrame(edges)
    con = duckdb.connect()
    con.register("recs", recs.to_arrow())
    con.register("edges", edges.to_arrow())
    g = con.execute(SQL).fetchnumpy()
    fit_and_print(g["n"].sum(), g["vc"], g["n"], g["s"])


if __name__ == "__main__":
    main(analyse)
