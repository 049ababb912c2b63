"""Tables and files of `vpslog analyze --out`: Parquet + CSV, .npz, JSON Lines, PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl


def _tt_aggs():
    return [
        pl.len().alias("traversals"),
        pl.col("travel_s").mean().alias("mean_tt_s"),
        pl.col("travel_s").quantile(0.5).alias("p50_tt_s"),
        pl.col("travel_s").quantile(0.95).alias("p95_tt_s"),
        pl.col("volume").mean().alias("mean_volume"),
    ]


def edge_stats(trav: pl.DataFrame) -> pl.DataFrame:
    """Per edge over the whole run (SUMO edgeData-like)."""
    extra = [pl.col("vc").max().alias("max_vc")] if "vc" in trav.columns else []  # V/C needs a capacity
    return trav.group_by("edge").agg(*_tt_aggs(), *extra)


def interval_stats(trav: pl.DataFrame, interval_ms: int) -> pl.DataFrame:
    """Per edge and interval: vehicles entering and leaving, flow, travel times, volume."""
    entered = (trav.with_columns((pl.col("t_enter") // interval_ms).alias("bin"))
               .group_by("bin", "edge").agg(*_tt_aggs()).rename({"traversals": "entered"}))
    left = (trav.with_columns((pl.col("t_exit") // interval_ms).alias("bin"))
            .group_by("bin", "edge").agg(pl.len().alias("left")))
    hours = interval_ms / 3.6e6
    return (entered.join(left, on=["bin", "edge"], how="full", coalesce=True)
            .with_columns(pl.col("entered", "left").fill_null(0))
            .with_columns(
                (pl.col("bin") * interval_ms / 1000).alias("interval_begin_s"),
                ((pl.col("bin") + 1) * interval_ms / 1000).alias("interval_end_s"),
                (pl.col("entered") / hours).alias("flow_veh_h"),
            ).drop("bin").rename({"edge": "edge_id"})
            .select("interval_begin_s", "interval_end_s", "edge_id", "entered", "left", "flow_veh_h",
                    "mean_tt_s", "p50_tt_s", "p95_tt_s", "mean_volume"))


def write_table(df: pl.DataFrame, out: Path, name: str) -> list[str]:
    """A table as Parquet (typed, for programs) and CSV (for everything else)."""
    df.write_parquet(out / f"{name}.parquet")
    df.write_csv(out / f"{name}.csv")
    return [str(out / f"{name}.parquet"), str(out / f"{name}.csv")]


def _training(out: Path, r: dict):
    if r["training"] is None:
        return None
    t = r["training"]
    np.savez(out / "training.npz", vc=t["vc"].to_numpy().astype(np.float32),
             tt_ratio=t["tt_ratio"].to_numpy().astype(np.float32), edge_id=t["edge"].to_numpy())  # the stream's id dtype
    return str(out / "training.npz")


def _errors(out: Path, r: dict):
    r["errors"].sort("time_ms").write_ndjson(out / "errors.jsonl")
    return str(out / "errors.jsonl")


def _bpr_plot(out: Path, r: dict):
    if r["fit"] is None:
        return None
    _plot(out / "bpr.png", r["training"], r["fit"], r["truth"])
    return str(out / "bpr.png")


# The one registry of a run's output files: name -> writer(out_dir, run outputs) -> path(s), or None
# when the run cannot have it (no edge table: no training set, no fit to plot).
WRITERS = {
    "edges": lambda out, r: write_table(r["summary"], out, "edges"),
    "intervals": lambda out, r: write_table(r["intervals"], out, "intervals"),
    "training": _training,
    "errors": _errors,
    "plot": _bpr_plot,
}


def write_all(out: Path, result: dict, tables: dict) -> dict:
    """Every output of WRITERS that applies, then result.json naming them."""
    out.mkdir(parents=True, exist_ok=True)
    files = {name: path for name, write in WRITERS.items() if (path := write(out, tables)) is not None}
    (out / "result.json").write_text(json.dumps({**result, "outputs": files}, indent=1))
    files["result"] = str(out / "result.json")
    return files


def _plot(path: Path, training, fit, truth) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vc, ratio = training["vc"].to_numpy(), training["tt_ratio"].to_numpy()
    if len(vc) > 50_000:  # a fixed-size sample keeps the PNG readable and quick
        pick = np.random.default_rng(0).choice(len(vc), 50_000, replace=False)
        vc, ratio = vc[pick], ratio[pick]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.scatter(vc, ratio, s=2, alpha=0.15, color="#4a6fa5", label="traversals (sample)")
    xs = np.linspace(0, max(float(vc.max()) if len(vc) else 1, 1), 200)
    mean_noise = np.exp(fit.c + fit.sigma ** 2 / 2)
    ax.plot(xs, (1 + fit.alpha * xs ** fit.beta) * mean_noise, color="#c03030",
            label=f"fit: α={fit.alpha:.3f}, β={fit.beta:.2f}")
    if truth:
        ax.plot(xs, 1 + truth["alpha"] * xs ** truth["beta"], "k--", lw=1,
                label=f"truth: α={truth['alpha']}, β={truth['beta']}")
    ax.set(xlabel="V/C at entry", ylabel="T / t0", title="BPR: travel time ratio vs volume/capacity")
    ax.set_ylim(0, max(4, float(np.quantile(ratio, 0.995)) if len(ratio) else 4))
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
