"""`vpslog simulate` + `vpslog analyze`: BPR recovery, outputs, bad input (CPython)."""

import json
import shutil
import subprocess
import sys

import jsonschema
import numpy as np
import polars as pl
import pytest

from vpslog.analysis import AnalysisError, analyze, analyze_runs
from vpslog.record import LAYOUT

from vpslog.manifest import schema

SCHEMA = schema()


def cli(*args):
    return subprocess.run([sys.executable, "-m", "vpslog.cli", *args], capture_output=True, text=True)


def simulate(tmp, *args):
    out = cli("simulate", "--out", str(tmp), *args)
    assert out.returncode == 0, out.stderr
    bin_path, manifest_path = out.stdout.split()
    return bin_path, manifest_path


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("sim"), "--workers", "2", "--seed", "11")


@pytest.mark.parametrize("alpha, beta", [(0.15, 4.0), (0.6, 2.0)])
def test_analyze_recovers_alpha_and_beta_within_5_percent(tmp_path, default_run, alpha, beta):
    if (alpha, beta) == (0.15, 4.0):
        bin_path, manifest_path = default_run
    else:
        bin_path, manifest_path = simulate(tmp_path, "--workers", "2", "-p", f"alpha={alpha}", "-p", f"beta={beta}",
                                           "--seed", "12")
    out = cli("analyze", bin_path, "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert abs(r["alpha"] / alpha - 1) < 0.05, r
    assert abs(r["beta"] / beta - 1) < 0.05, r
    assert r["alpha_ci"][0] < r["alpha"] < r["alpha_ci"][1] and r["beta_ci"][0] < r["beta"] < r["beta_ci"][1]
    assert r["ground_truth"] == {"alpha": alpha, "beta": beta, "spread": 0.1}
    # the data really spans the curve: a fair test of beta
    assert r["share_vc_above_1"] > 0.05
    assert r["traversals"] == r["reported_traversals"] > 100_000
    assert r["unpaired_enters"] == r["unpaired_exits"] == 0
    assert (r["stream"], r["records"]) == ("events", json.loads(open(manifest_path).read())["records"])


def test_cli_run_verifies_and_its_manifest_matches_the_schema(default_run):
    bin_path, manifest_path = default_run
    assert cli("verify", bin_path).returncode == 0
    manifest = json.loads(open(manifest_path).read())
    jsonschema.validate(manifest, SCHEMA)
    assert manifest["record_layout"] == LAYOUT
    vehicles = [p["stats"]["vehicles"] for p in manifest["producers"]]
    assert vehicles == [[0, 10_000], [10_000, 20_000]]


def test_default_path_is_this_process_and_workers_ask_for_a_cluster(default_run, monkeypatch):
    bin_path, _ = default_run
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    default, cluster = cli("analyze", bin_path, "--json"), cli("analyze", bin_path, "--json", "--workers", "2")
    assert default.returncode == 0 and cluster.returncode == 0, default.stderr + cluster.stderr
    assert "vpslog analyze: in this process" in default.stderr.splitlines()
    assert "vpslog analyze: on an embedded Dask LocalCluster of 2 workers" in cluster.stderr.splitlines()
    assert json.loads(default.stdout) == json.loads(cluster.stdout)


def test_outputs_are_readable_by_others(tmp_path, default_run):
    bin_path, _ = default_run
    r = analyze(bin_path, out_dir=tmp_path, interval_s=600)
    edges = pl.read_parquet(tmp_path / "edges.parquet")
    assert edges.columns[:6] == ["edge_id", "from_node", "to_node", "length_m", "free_flow_s", "capacity"]
    assert edges["traversals"].sum() == r["traversals"]
    assert pl.read_csv(tmp_path / "edges.csv").shape == edges.shape
    intervals = pl.read_parquet(tmp_path / "intervals.parquet")
    assert intervals["entered"].sum() == intervals["left"].sum() == r["traversals"]
    assert set(intervals["interval_begin_s"].unique().to_list()) <= {600.0 * i for i in range(10)}
    busy = intervals.filter(pl.col("entered") > 0)
    assert (busy["flow_veh_h"] == busy["entered"] * 6).all()
    npz = np.load(tmp_path / "training.npz")
    assert len(npz["vc"]) == len(npz["tt_ratio"]) == r["traversals"]
    lines = (tmp_path / "errors.jsonl").read_text().splitlines()
    assert len(lines) == r["errors"] > 0 and set(json.loads(lines[0])) == {"time_ms", "vehicle_id", "edge_id"}
    assert (tmp_path / "bpr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_partitioned_pass_gives_the_same_answer(default_run, monkeypatch):
    import vpslog.analysis._scan as scan
    import vpslog.runs as runs

    bin_path, _ = default_run
    whole = analyze(bin_path)
    monkeypatch.setattr(scan, "PARTITION_RECORDS", 40_000)  # ~12 partitions
    monkeypatch.setattr(runs, "BLOCK_RECORDS", 30_001)
    monkeypatch.setattr(scan, "SPILL_ABOVE_RECORDS", 0)  # the pieces wait in files, as for a large run
    parted = analyze(bin_path)
    for key in ("traversals", "errors", "unpaired_enters"):
        assert parted[key] == whole[key]
    assert parted["alpha"] == pytest.approx(whole["alpha"], rel=1e-9)
    assert parted["beta"] == pytest.approx(whole["beta"], rel=1e-9)


def copy_run(default_run, tmp_path):
    bin_path, manifest_path = (tmp_path / "r.bin", tmp_path / "r.manifest.json")
    shutil.copy(default_run[0], bin_path)
    shutil.copy(default_run[1], manifest_path)
    return bin_path, manifest_path


def test_truncated_and_corrupt_inputs_fail_cleanly(tmp_path, default_run):
    bin_path, manifest_path = copy_run(default_run, tmp_path)
    data = bin_path.read_bytes()
    bin_path.write_bytes(data[:-3])
    out = cli("analyze", str(bin_path))
    assert out.returncode == 1 and "not a multiple of 10" in out.stderr and "Traceback" not in out.stderr

    bad = bytearray(data)
    bad[10 * 1234 + 8] = 7
    bin_path.write_bytes(bytes(bad))
    out = cli("analyze", str(bin_path))
    assert out.returncode == 1 and "corrupt record 1234" in out.stderr

    bin_path.write_bytes(data[: len(data) // 2 // 10 * 10])
    out = cli("analyze", str(bin_path))
    assert out.returncode == 1 and "wrong manifest?" in out.stderr

    manifest_path.unlink()
    out = cli("analyze", str(bin_path))
    assert out.returncode == 1 and "no manifest" in out.stderr and "--manifest" in out.stderr


def test_unpaired_events_are_counted_not_fatal(tmp_path, default_run):
    bin_path, manifest_path = copy_run(default_run, tmp_path)
    data = bin_path.read_bytes()
    cut = len(data) // 10 // 3 * 10  # a tab that died a third of the way through a worker's part
    bin_path.write_bytes(data[:cut])
    m = json.loads(manifest_path.read_text())
    m["records"], m["bytes"] = cut // 10, cut
    manifest_path.write_text(json.dumps(m))
    r = analyze(bin_path)
    assert r["unpaired_enters"] > 0 and r["traversals"] > 0
    assert r["traversals"] < r["reported_traversals"]


def test_a_run_without_an_edge_table_still_analyses(tmp_path, default_run):
    """A load-generator run (or any source without a network): traversals, flows and travel
    times per edge and interval, one line saying why there is no BPR fit, exit 0."""
    bin_path, manifest_path = copy_run(default_run, tmp_path)
    m = json.loads(manifest_path.read_text())
    m["source"] = {"name": "load", "version": 1, "params": {"rate": 5000}}
    manifest_path.write_text(json.dumps(m))
    out = cli("analyze", str(bin_path), "--out", str(tmp_path / "o"))
    assert out.returncode == 0, out.stderr
    assert [line for line in out.stdout.splitlines() if "no BPR fit" in line] == [
        "no BPR fit: the manifest has no edge table (source.network.edges), so free-flow times (t0) and"
        " capacities are unknown; traversals, flows and travel times are computed"]
    r = json.loads(cli("analyze", str(bin_path), "--json").stdout)
    assert r["alpha"] is r["beta"] is None and "no edge table" in r["no_fit_reason"]
    assert r["traversals"] == r["reported_traversals"] > 100_000
    edges = pl.read_parquet(tmp_path / "o" / "edges.parquet")
    assert edges["traversals"].sum() == r["traversals"] and (edges["mean_tt_s"] > 0).all()
    assert {"flow_veh_h", "p95_tt_s"} <= set(edges.columns)
    assert pl.read_parquet(tmp_path / "o" / "intervals.parquet")["entered"].sum() == r["traversals"]
    assert not (tmp_path / "o" / "bpr.png").exists() and not (tmp_path / "o" / "training.npz").exists()


def relabel(default_run, tmp_path, drop_one=False):
    """The default run with its edges renamed to scattered uint16 ids, the table shuffled."""
    bin_path, manifest_path = copy_run(default_run, tmp_path)
    m = json.loads(manifest_path.read_text())
    table = pl.DataFrame(m["source"]["network"]["edges"])
    new_ids = np.random.default_rng(5).choice(np.arange(1, 65_536), len(table), replace=False).astype(np.uint16)
    recs = np.fromfile(bin_path, dtype=[("t", "<u4"), ("v", "<u2"), ("e", "<u2"), ("s", "u1"), ("p", "u1")])
    recs["e"] = new_ids[recs["e"]]
    bin_path.write_bytes(recs.tobytes())
    table = table.with_columns(pl.Series("edge_id", new_ids)).sample(fraction=1.0, shuffle=True, seed=3)
    if drop_one:
        table = table.filter(pl.col("edge_id") != int(recs["e"][0]))
    m["source"]["network"]["edges"] = table.to_dict(as_series=False)
    m.pop("checksum")
    manifest_path.write_text(json.dumps(m))
    return bin_path, m, recs


@pytest.mark.parametrize("lookup", ["table", "search"])
def test_edge_ids_are_joined_not_indexed(tmp_path, default_run, lookup, monkeypatch):
    import vpslog.analysis._run as run

    whole = analyze(default_run[0])
    if lookup == "search":  # as for an edge table with ids in the billions: too sparse for a table by id
        monkeypatch.setattr(run, "DENSE_IDS", 0)
    bin_path, m, _ = relabel(default_run, tmp_path)
    r = analyze(bin_path, out_dir=tmp_path / "o")
    assert (r["traversals"], r["edges_used"]) == (whole["traversals"], whole["edges_used"])
    assert r["alpha"] == pytest.approx(whole["alpha"], rel=1e-9) and r["beta"] == pytest.approx(whole["beta"], rel=1e-9)
    edges = pl.read_parquet(tmp_path / "o" / "edges.parquet")
    assert edges["edge_id"].is_sorted() and edges["traversals"].sum() == r["traversals"]

    # a logged edge the table lacks: analysed without t0 and capacity, in the tables, not in the fit
    (tmp_path / "d").mkdir()
    bin_path, m, recs = relabel(default_run, tmp_path / "d", drop_one=True)
    missing = int(recs["e"][0])
    r = analyze(bin_path, out_dir=tmp_path / "d" / "o")
    off = r["off_table"]
    assert (off["edges"], off["first_ids"]) == (1, [missing]) and off["traversals"] > 0
    row = pl.read_parquet(tmp_path / "d" / "o" / "edges.parquet").filter(pl.col("edge_id") == missing)
    assert row["traversals"].item() == off["traversals"] and row["free_flow_s"].is_null().all()
    assert r["traversals"] == whole["traversals"]
    training = np.load(tmp_path / "d" / "o" / "training.npz")
    assert len(training["vc"]) == r["traversals"] - off["traversals"] and missing not in training["edge_id"]
    out = cli("analyze", str(bin_path))
    assert f"1 logged edge(s) not in the edge table (ids {missing}): their {off['traversals']} traversals" in out.stdout


# Wide ids: runs whose events are in the events_wide stream (32-bit vehicle and edge ids).

WIDE_EDGES = '''
"""The traffic model with its odd edges logged above 65,535 (32-bit ids); its edge table
lists the even ones only, as an edge table (ids up to 65,535) must."""
from vpslog.traffic import TrafficSource

RENAME = 65_536  # odd edge e is logged as e + RENAME: cut to 16 bits, it would be e again


class WideEdges(TrafficSource):
    name = "wide-edges"
    wide_ids = True

    def run(self, log):
        sim = self.sim
        while (cols := sim.next_batch(self.batch_records, self.step_span_ms)) is not None:
            t, v, e, s = cols
            log.extend(t, v, [x + RENAME * (x & 1) for x in e], s)
            yield

    def edges(self):
        table = super().edges()
        keep = [i for i, e in enumerate(table["edge_id"]) if e % 2 == 0]
        return {k: [col[i] for i in keep] for k, col in table.items()}
'''


@pytest.fixture(scope="module")
def wide_vehicles_run(tmp_path_factory):
    """Traffic with 70,000 vehicles, so events_wide; one worker, so vehicles v and v + 65,536
    share the grid (cut to 16 bits, their events would mix and some would not pair)."""
    return simulate(tmp_path_factory.mktemp("wide"), "--workers", "1", "--seed", "3",
                    "-p", "vehicles=70000", "-p", "duration_s=60")


@pytest.fixture(scope="module")
def wide_edges_run(tmp_path_factory):
    """Half the edges logged with ids above 65,535 and absent from the edge table."""
    d = tmp_path_factory.mktemp("wide-edges")
    (d / "wide_edges.py").write_text(WIDE_EDGES)
    return simulate(d / "runs", "--source", str(d / "wide_edges.py"), "--workers", "2", "--seed", "22",
                    "-p", "duration_s=300")


@pytest.fixture(scope="module")
def cluster():
    """One real LocalCluster of 2 worker processes for this module."""
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            yield client


def in_process_and_on_dask(bin_path, cluster, tmp_path, monkeypatch) -> tuple[dict, dict]:
    """The run analysed both ways, planned (on the client) as many blocks and partitions, the
    in-process pieces waiting in files: every path splits uint32 ids."""
    import vpslog.analysis._scan as scan
    import vpslog.runs as runs

    monkeypatch.setattr(scan, "PARTITION_RECORDS", 100_000)
    monkeypatch.setattr(runs, "BLOCK_RECORDS", 70_001)
    monkeypatch.setattr(scan, "SPILL_ABOVE_RECORDS", 0)
    return analyze(bin_path, out_dir=tmp_path / "here"), analyze(bin_path, out_dir=tmp_path / "dask", client=cluster)


def assert_same_outputs(a, b) -> None:
    from polars.testing import assert_frame_equal

    for table in ("edges", "intervals"):
        assert_frame_equal(pl.read_parquet(a / f"{table}.parquet"), pl.read_parquet(b / f"{table}.parquet"))
    ta, tb = np.load(a / "training.npz"), np.load(b / "training.npz")  # the traversals, in partition order
    for k in ("vc", "tt_ratio", "edge_id"):
        assert np.array_equal(ta[k], tb[k]) and ta[k].dtype == tb[k].dtype
    assert (a / "errors.jsonl").read_text() == (b / "errors.jsonl").read_text()


def wide_stream(manifest_path) -> dict:
    m = json.loads(open(manifest_path).read())
    assert m["records"] == 0  # a wide-id source leaves the narrow events file empty
    (wide,) = [s for s in m["streams"] if s["name"] == "events_wide"]
    return wide


def test_wide_vehicle_ids_pair_and_fit_alike_in_process_and_on_dask(wide_vehicles_run, cluster, tmp_path, monkeypatch):
    bin_path, manifest_path = wide_vehicles_run
    here, there = in_process_and_on_dask(bin_path, cluster, tmp_path, monkeypatch)
    assert {k: v for k, v in here.items() if k not in ("outputs",)} == \
        {k: v for k, v in there.items() if k not in ("outputs",)}
    assert_same_outputs(tmp_path / "here", tmp_path / "dask")
    assert (here["stream"], here["records"]) == ("events_wide", wide_stream(manifest_path)["records"])
    assert here["traversals"] == here["reported_traversals"] > 100_000
    assert here["unpaired_enters"] == here["unpaired_exits"] == 0
    assert abs(here["alpha"] / 0.15 - 1) < 0.05 and abs(here["beta"] / 4.0 - 1) < 0.05, here
    assert here["off_table"] == {"edges": 0, "traversals": 0, "first_ids": []}
    errors = pl.read_ndjson(tmp_path / "here" / "errors.jsonl")
    assert len(errors) == here["errors"] and errors["vehicle_id"].max() >= 65_536


def test_wide_edge_ids_are_kept_and_those_off_the_table_left_out_of_the_fit(wide_edges_run, cluster, tmp_path,
                                                                           monkeypatch):
    bin_path, manifest_path = wide_edges_run
    here, there = in_process_and_on_dask(bin_path, cluster, tmp_path, monkeypatch)
    assert {k: v for k, v in here.items() if k != "outputs"} == {k: v for k, v in there.items() if k != "outputs"}
    assert_same_outputs(tmp_path / "here", tmp_path / "dask")
    assert here["records"] == wide_stream(manifest_path)["records"]
    assert here["traversals"] == here["reported_traversals"] and here["unpaired_enters"] == 0
    # the fit uses the even edges only (those in the table): still the ground truth
    assert abs(here["alpha"] / 0.15 - 1) < 0.05 and abs(here["beta"] / 4.0 - 1) < 0.05, here
    off = here["off_table"]
    edges = pl.read_parquet(tmp_path / "here" / "edges.parquet")
    wide = edges.filter(pl.col("edge_id") >= 65_536)
    assert off["edges"] == len(wide) > 100 and off["first_ids"] == wide["edge_id"].head(5).to_list()
    assert (wide["edge_id"] % 2 == 1).all() and wide["free_flow_s"].is_null().all() and wide["max_vc"].is_null().all()
    assert wide["traversals"].sum() == off["traversals"] > 0 and edges["traversals"].sum() == here["traversals"]
    assert edges.filter(pl.col("edge_id") < 65_536)["edge_id"].to_list() == list(range(0, 2 * (len(edges) - len(wide)), 2))
    intervals = pl.read_parquet(tmp_path / "here" / "intervals.parquet")
    assert intervals.schema["edge_id"] == pl.UInt32 and intervals.filter(pl.col("edge_id") >= 65_536)["entered"].sum() \
        == off["traversals"]
    training = np.load(tmp_path / "here" / "training.npz")
    assert len(training["vc"]) == here["traversals"] - off["traversals"] and (training["edge_id"] % 2 == 0).all()
    assert training["edge_id"].dtype == np.uint32  # the stream's id type, never narrowed


def test_a_directory_of_narrow_and_wide_runs_is_one_sweep(default_run, wide_vehicles_run, tmp_path):
    for path in (*default_run, *wide_vehicles_run, wide_vehicles_run[0].removesuffix(".bin") + ".events_wide.bin"):
        shutil.copy(path, tmp_path)
    out = analyze_runs([tmp_path])
    assert not out["skipped"] and sorted(r["stream"] for r in out["runs"]) == ["events", "events_wide"]
    alone = {r["run_id"]: r for r in map(analyze, (default_run[0], wide_vehicles_run[0]))}
    for r in out["runs"]:
        assert {k: v for k, v in r.items() if k != "location"} == \
            {k: v for k, v in alone[r["run_id"]].items() if k != "location"}
    assert out["pooled"]["traversals"] == sum(r["traversals"] for r in out["runs"])
    assert sorted(out["sweep"]["stream"].to_list()) == ["events", "events_wide"]



def test_a_wide_runs_damaged_stream_is_named(wide_edges_run, tmp_path):
    bin_path, manifest_path = (tmp_path / "w.bin", tmp_path / "w.manifest.json")
    m = json.loads(open(wide_edges_run[1]).read())
    (wide,) = [s for s in m["streams"] if s["name"] == "events_wide"]
    wide_path = tmp_path / wide["file"]
    bin_path.write_bytes(b"")
    manifest_path.write_text(json.dumps(m))
    data = open(wide_edges_run[0].removesuffix(".bin") + ".events_wide.bin", "rb").read()
    wide_path.write_bytes(data[:-13])
    with pytest.raises(AnalysisError, match=f"{wide['file']}: {len(data) - 13} bytes, the manifest says {len(data)}"
                                            r" \(stream events_wide; truncated\?\)"):
        analyze(bin_path)
    wide_path.unlink()
    with pytest.raises(AnalysisError, match=r"no such file \(stream events_wide of this run\)"):
        analyze(bin_path)
    wide_path.write_bytes(data)
    bin_path.write_bytes(bytes(10))  # one events record beside the wide ones
    m["records"], m["bytes"], m["streams"][0]["records"], m["streams"][0]["bytes"] = 1, 10, 1, 10
    manifest_path.write_text(json.dumps(m))
    with pytest.raises(AnalysisError, match=f"both events .1 records. and events_wide .{wide['records']}. hold records"):
        analyze(bin_path)
