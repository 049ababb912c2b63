"""Reading runs in a notebook: FCD speeds against the BPR curve, events joined with FCD, a sweep.

A notebook as plain Python: each ``# %%`` is a cell (Jupyter, VS Code and PyCharm run them one by
one), and the whole file runs as a script:

    .venv/bin/python examples/reading_runs.py [RUN_DIR] [--out OUT]

RUN_DIR (default ``build/reading-runs/runs``) is a folder of traffic runs with their FCD stream on. When it
holds no run yet, a small demand sweep is simulated into it first with ``vpslog simulate``. OUT
(default ``build/reading-runs/out``) gets ``vpslog analyze``'s outputs, ``fcd_vs_bpr.png`` and the joined
tables as Parquet. Needs the ``analysis`` extra (numpy, polars, pyarrow, matplotlib).
"""

# %%
import argparse
import json
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files, no window
import matplotlib.pyplot as plt
import polars as pl

import vpslog

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("run_dir", nargs="?", default="build/reading-runs/runs", type=Path)
ap.add_argument("--out", default="build/reading-runs/out", type=Path)
# in a notebook kernel sys.argv is the kernel's own: take the defaults
args = ap.parse_args([] if "ipykernel" in sys.modules else None)
RUN_DIR, OUT = args.run_dir, args.out
OUT.mkdir(parents=True, exist_ok=True)
pl.Config.set_tbl_width_chars(160)  # tables as wide as a terminal shows them
pl.Config.set_fmt_str_lengths(40)


def vpslog_cli(*argv) -> None:
    """The ``vpslog`` command, as ``!vpslog ...`` in a notebook cell."""
    subprocess.run([sys.executable, "-m", "vpslog.cli", *map(str, argv)], check=True)


# %% [markdown]
# ## A demand sweep to read
# Three traffic runs on one 10 x 10 grid, 1,500 to 4,500 vehicles departing over five minutes, each
# logging FCD (every vehicle's edge, position and speed) every 2 simulated seconds.

# %%
if not list(RUN_DIR.glob("*.manifest.json")):
    for vehicles in (1500, 3000, 4500):
        vpslog_cli("simulate", "--out", RUN_DIR, "--workers", 2, "--seed", 7, "-p", f"vehicles={vehicles}",
                   "-p", "grid=10", "-p", "duration_s=300", "-p", "fcd_period_s=2")

# %% [markdown]
# ## The runs and their parameters
# `vpslog.read` of a folder gives every run in it; `table()` has one row per run.

# %%
runs = vpslog.read(RUN_DIR)
print(runs.table().select("run_id", "status", "param_vehicles", "param_fcd_period_s", "records_events", "records_fcd"))
run = max(runs, key=lambda r: r.params["vehicles"])  # the busiest run, for the cells below
print(run)
print(run.scan("fcd").collect_schema())  # the stream's declared fields and types

# %% [markdown]
# ## What `vpslog analyze` fitted
# Per run: the BPR fit in `result.json`, which names its other outputs (the per-edge table with each
# edge's length, free-flow time and capacity, and the per-interval table), and a sweep table over all.

# %%
vpslog_cli("analyze", RUN_DIR, "--out", OUT / "analysis", "--interval-s", 60)
result = json.loads((OUT / "analysis" / run.run_id / "result.json").read_text())
edges = pl.read_parquet(result["outputs"]["edges"][0])
intervals = pl.read_parquet(result["outputs"]["intervals"][0])
alpha, beta = result["alpha"], result["beta"]
print(f"{run.run_id}: alpha = {alpha:.4f}, beta = {beta:.3f} (ground truth {result['ground_truth']})")

# %% [markdown]
# ## Events joined with FCD
# A traversal is an `enter` and the `exit` that follows it (same vehicle, same edge). Each FCD sample
# falls in the traversal of its vehicle on its edge with `t_enter < time_ms <= t_exit`: two as-of joins.
# The model drives each edge at one speed, its length over its travel time: the FCD speed of a
# traversal should be the speed its enter and exit times give.

# %%
events = run.frame()  # status is an Enum: enter, exit, error
fcd = run.frame("fcd")
ids = [pl.col("vehicle_id").cast(pl.UInt32).alias("vehicle"), pl.col("edge_id").cast(pl.UInt32).alias("edge")]
enters = events.filter(pl.col("status") == "enter").select(*ids, t_enter="time_ms").sort("t_enter")
exits = events.filter(pl.col("status") == "exit").select(*ids, t_exit="time_ms").sort("t_exit")
traversals = (exits.join_asof(enters, left_on="t_exit", right_on="t_enter", by=["vehicle", "edge"],
                                check_sortedness=False)  # sorted above; Polars cannot check within groups
              .sort("t_enter"))
samples = (fcd.sort("time_ms")
           .join_asof(traversals, left_on="time_ms", right_on="t_enter", by=["vehicle", "edge"],
                      allow_exact_matches=False, check_sortedness=False)
           .filter(pl.col("time_ms") <= pl.col("t_exit")))
speeds = (traversals
          .join(samples.group_by("vehicle", "edge", "t_enter")
                .agg(samples=pl.len(), fcd_speed_mps=pl.col("speed_mps").mean(),
                     fcd_min_mps=pl.col("speed_mps").min(), fcd_max_mps=pl.col("speed_mps").max()),
                on=["vehicle", "edge", "t_enter"], how="left")
          .with_columns(pl.col("samples").fill_null(0))
          .join(edges.select(pl.col("edge_id").cast(pl.UInt32).alias("edge"), "length_m", "free_flow_s", "capacity"),
                on="edge")
          .with_columns(log_speed_mps=pl.col("length_m") * 1000 / (pl.col("t_exit") - pl.col("t_enter")))
          .sort("t_enter", "vehicle"))
speeds.write_parquet(OUT / "traversal_speeds.parquet")
print(speeds.select("vehicle", "edge", "t_enter", "t_exit", "samples", "fcd_speed_mps", "log_speed_mps").head(8))
sampled = speeds.filter(pl.col("samples") > 0)
print(f"{speeds.height:,} traversals, {sampled.height:,} with FCD samples; {samples.height:,} of {fcd.height:,} "
      f"samples joined; largest |FCD - log| speed: "
      f"{(sampled['fcd_speed_mps'] - sampled['log_speed_mps']).abs().max():.2e} m/s")

# %% [markdown]
# ## FCD speeds per edge against the BPR curve
# BPR gives travel time `t0 (1 + alpha (V/C)^beta)`, so speed over free-flow speed is
# `1 / (1 + alpha (V/C)^beta)`. Per edge and minute: the mean FCD speed of the traversals that entered
# then (over the edge's free-flow speed) against that minute's mean V/C at entry from `analyze`.

# %%
per_edge = (sampled
            .group_by("edge", interval_begin_s=(pl.col("t_enter") // 60_000 * 60).cast(pl.Float64))
            .agg(speed_ratio=(pl.col("fcd_speed_mps") * pl.col("free_flow_s") / pl.col("length_m")).mean())
            .join(intervals.select(pl.col("edge_id").cast(pl.UInt32).alias("edge"), "interval_begin_s", "entered",
                                   "mean_volume"), on=["edge", "interval_begin_s"])
            .join(edges.select(pl.col("edge_id").cast(pl.UInt32).alias("edge"), "capacity"), on="edge")
            .with_columns(vc=pl.col("mean_volume") / pl.col("capacity")))
busiest = edges.sort("traversals", descending=True).head(4)["edge_id"].cast(pl.UInt32).to_list()
over_time = (fcd.filter(pl.col("edge").is_in(busiest))
             .group_by("edge", "time_ms").agg(pl.col("speed_mps").mean()).sort("time_ms"))

fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
ax.scatter(per_edge["vc"], per_edge["speed_ratio"], s=8, alpha=0.4, color="#4a6fa5", label="an edge in a minute (FCD)")
vc = pl.Series(range(301)) / 300 * max(1.0, per_edge["vc"].max())
ax.plot(vc, 1 / (1 + alpha * vc ** beta), color="#c03030", label=f"BPR fit by analyze: α={alpha:.3f}, β={beta:.2f}")
truth = result["ground_truth"]
ax.plot(vc, 1 / (1 + truth["alpha"] * vc ** truth["beta"]), "k--", lw=1, label="ground truth")
ax.set(xlabel="V/C at entry (analyze, per minute)", ylabel="FCD speed / free-flow speed", ylim=(0, 1.3),
       title=f"{run.run_id}: FCD speeds per edge against BPR")
ax.legend(loc="upper right")
for edge in busiest:
    one = over_time.filter(pl.col("edge") == edge)
    ax_t.plot(one["time_ms"] / 1000, one["speed_mps"], lw=1, label=f"edge {edge}")
ax_t.set(xlabel="simulated time, s", ylabel="mean FCD speed, m/s", title="the four busiest edges")
ax_t.legend(loc="lower left")
fig.tight_layout()
fig.savefig(OUT / "fcd_vs_bpr.png")
plt.close(fig)
print(per_edge.select("edge", "interval_begin_s", "entered", "vc", "speed_ratio")
      .with_columns(bpr_ratio=1 / (1 + alpha * pl.col("vc") ** beta)).sort("vc", descending=True).head(6))
print(f"plot: {OUT / 'fcd_vs_bpr.png'}")

# %% [markdown]
# ## Many runs as one frame
# `runs.scan("fcd")` reads every run's FCD lazily with a `run_id` column that joins `runs.table()`
# (the source's parameters as `param_*`) and `analyze`'s sweep table. Only the columns the query
# needs are read, block by block.

# %%
sweep = pl.read_parquet(OUT / "analysis" / "sweep.parquet").select("run_id", "alpha", "beta")
by_demand = (runs.scan("fcd")
             .group_by("run_id")
             .agg(samples=pl.len(), mean_speed_mps=pl.col("speed_mps").mean(),
                  p10_speed_mps=pl.col("speed_mps").quantile(0.1),
                  share_below_5_mps=(pl.col("speed_mps") < 5).mean())
             .join(runs.scan("events").filter(pl.col("status") == "error").group_by("run_id").agg(errors=pl.len()),
                   on="run_id", how="left")
             .join(runs.table().lazy().select("run_id", "param_vehicles"), on="run_id")
             .collect()
             .join(sweep.with_columns(pl.col("run_id").cast(runs.table()["run_id"].dtype)), on="run_id")
             .sort("param_vehicles"))
by_demand.write_parquet(OUT / "sweep_speeds.parquet")
print(by_demand.select("param_vehicles", "samples", "mean_speed_mps", "p10_speed_mps", "share_below_5_mps",
                       "errors", "alpha", "beta"))
