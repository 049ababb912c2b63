"""examples/reading_runs.py run as a user runs it (plain Python in a subprocess, its default demand
sweep simulated by `vpslog simulate`): its plot is a real picture, and its joined tables agree with
the same numbers computed here another way from the runs' frames (numpy sorts and searches, a dict
pairing enters with exits) and with the model's own law (one speed per edge: length over travel time)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib.image import imread

import vpslog

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reading_runs.py"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("reading")
    out = subprocess.run([sys.executable, EXAMPLE, root / "runs", "--out", root / "out"], cwd=root,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    runs = vpslog.read(root / "runs")
    return {"runs": runs, "out": root / "out", "stdout": out.stdout,
            "busiest": max(runs, key=lambda r: r.params["vehicles"])}


def test_it_simulates_a_sweep_and_prints_its_tables(example):
    assert sorted(r.params["vehicles"] for r in example["runs"]) == [1500, 3000, 4500]
    assert all(r.params["fcd_period_s"] == 2 and r.streams["fcd"].records > 0 for r in example["runs"])
    for run in example["runs"]:
        assert run.run_id in example["stdout"]
    assert "samples joined" in example["stdout"] and "param_vehicles" in example["stdout"]


def test_the_plot_is_a_real_picture(example):
    png = example["out"] / "fcd_vs_bpr.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 30_000
    pixels = imread(png)[..., :3]
    assert pixels.shape == (450, 1200, 3)  # figsize x dpi
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    ink = (pixels.min(axis=2) < 0.9).mean()
    assert len(colours) > 200 and 0.05 < ink < 0.6, (len(colours), ink)


def traversals_from_frames(run) -> dict:
    """(vehicle, edge, t_enter, t_exit) -> [FCD samples, their mean speed], computed with a dict and numpy."""
    ev = run.frame(enums=False)
    open_, pairs = {}, []
    for t, v, e, s in zip(*(ev[c].to_numpy().tolist() for c in ("time_ms", "vehicle_id", "edge_id", "status"))):
        if s == 1:
            open_[v, e] = t
        elif s == 2:
            pairs.append((v, e, open_.pop((v, e)), t))
    fcd = run.frame("fcd")
    time, vehicle, edge, speed = (fcd[c].to_numpy() for c in ("time_ms", "vehicle", "edge", "speed_mps"))
    # one sorted uint64 key per sample: vehicle, edge, time; a traversal's samples are one slice of it
    key = (vehicle.astype(np.uint64) << 48) | (edge.astype(np.uint64) << 32) | time.astype(np.uint64)
    order = np.argsort(key, kind="stable")
    key, sums = key[order], np.concatenate([[0.0], np.cumsum(speed[order], dtype=np.float64)])
    v, e, t_in, t_out = (np.array(c, dtype=np.uint64) for c in zip(*pairs))
    lo = np.searchsorted(key, (v << 48) | (e << 32) | t_in, side="right")  # after the enter...
    hi = np.searchsorted(key, (v << 48) | (e << 32) | t_out, side="right")  # ...up to the exit
    return {p: (int(h - l), (sums[h] - sums[l]) / (h - l) if h > l else None) for p, l, h in zip(pairs, lo, hi)}


def test_events_joined_with_fcd_agree_with_the_frames_and_the_model(example):
    run = example["busiest"]
    got = pl.read_parquet(example["out"] / "traversal_speeds.parquet")
    want = traversals_from_frames(run)
    rows = {(r["vehicle"], r["edge"], r["t_enter"], r["t_exit"]): r for r in got.iter_rows(named=True)}
    assert rows.keys() == want.keys() and len(rows) > 20_000
    for k, (n, mean) in want.items():
        assert rows[k]["samples"] == n, k
        assert (rows[k]["fcd_speed_mps"] is None) if mean is None else rows[k]["fcd_speed_mps"] == pytest.approx(mean, rel=1e-6), k
    assert sum(n for n, _ in want.values()) == run.streams["fcd"].records  # every sample is in a traversal
    # the model drives an edge at its length over its travel time: FCD and the log tell the same speed
    length = dict(zip(*(run.manifest["source"]["network"]["edges"][c] for c in ("edge_id", "length_m"))))
    for (v, e, t_in, t_out), (n, mean) in want.items():
        assert rows[v, e, t_in, t_out]["log_speed_mps"] == pytest.approx(1000 * length[e] / (t_out - t_in), rel=1e-12)
        if n:
            assert mean == pytest.approx(1000 * length[e] / (t_out - t_in), rel=1e-6)


def test_the_sweep_table_agrees_with_each_run(example):
    got = {r["param_vehicles"]: r for r in pl.read_parquet(example["out"] / "sweep_speeds.parquet").iter_rows(named=True)}
    for run in example["runs"]:
        row = got[run.params["vehicles"]]
        speed = run.frame("fcd")["speed_mps"].to_numpy()
        status = run.frame(enums=False)["status"].to_numpy()
        result = json.loads((example["out"] / "analysis" / run.run_id / "result.json").read_text())
        assert row["samples"] == run.streams["fcd"].records == len(speed)
        assert row["mean_speed_mps"] == pytest.approx(speed.astype(np.float64).mean(), rel=1e-5)
        assert row["share_below_5_mps"] == pytest.approx((speed < 5).mean(), rel=1e-12)
        assert row["errors"] == (status == 3).sum() > 0
        assert (row["alpha"], row["beta"]) == (result["alpha"], result["beta"])
