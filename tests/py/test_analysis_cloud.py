"""`vpslog analyze` where runs live: straight from the bucket (moto S3 behind `vpslog serve`),
in this process and on a real Dask LocalCluster of 2 worker processes that read the parts
themselves, and many runs at once (damaged and incomplete ones skipped)."""

import json
import sys
from pathlib import Path

import distributed
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness
from vpslog.analysis import analyze, analyze_runs

PART_RECORDS = 100_000  # ~5 parts for the 476 K-record run: several blocks of several parts


@pytest.fixture(scope="module")
def cluster(s3_env):
    """One real LocalCluster per module: 2 worker processes, started after the S3 environment is set."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            yield client


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = harness.run_cli("simulate", "--out", tmp_path_factory.mktemp("sim"), "--workers", "2", "--seed", "11")
    assert out.returncode == 0, out.stderr
    bin_path, manifest_path = out.stdout.split()
    return Path(bin_path), json.loads(Path(manifest_path).read_text())


@pytest.fixture(autouse=True)
def small_blocks_and_partitions(monkeypatch):
    """Client-side planning only: blocks of 2 parts, 4 edge partitions."""
    import vpslog.analysis._scan as scan
    import vpslog.runs as runs

    monkeypatch.setattr(runs, "BLOCK_RECORDS", 2 * PART_RECORDS)
    monkeypatch.setattr(scan, "PARTITION_RECORDS", 120_000)


def same_result(a: dict, b: dict) -> None:
    drop = ("location", "outputs")
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}


def test_bucket_run_gives_the_fetched_files_results_in_process_and_on_dask(backend, s3, sim, cluster, tmp_path):
    from vpslog.store import fetch

    bin_path, manifest = sim
    harness.put_cloud_run(s3, backend["bucket"], "cloud-a", bin_path, manifest, PART_RECORDS)
    url = f"s3://{backend['bucket']}/runs/cloud-a"
    (fetched, *_), _ = fetch(url, tmp_path / "fetched")  # the events file first, then any other stream's
    on_file = analyze(fetched, out_dir=tmp_path / "file")
    from_bucket = analyze(url, out_dir=tmp_path / "bucket")
    on_dask = analyze(url, out_dir=tmp_path / "dask", client=cluster)
    same_result(on_file, from_bucket)
    same_result(on_file, on_dask)
    assert on_dask["traversals"] == on_dask["reported_traversals"] > 100_000
    for table in ("edges", "intervals"):
        frames = [pl.read_parquet(tmp_path / d / f"{table}.parquet") for d in ("file", "bucket", "dask")]
        assert frames[0].equals(frames[1]) and frames[0].equals(frames[2]), table
    # the workers read the parts: the client process never held the run
    assert not list((tmp_path / "bucket").glob("*.bin")) and not list((tmp_path / "dask").glob("*.bin"))

    out = harness.run_cli("verify", url, env=harness.s3_env(backend))
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout + out.stderr


def test_compressed_parts_give_the_raw_runs_results_in_process_and_on_dask(backend, s3, sim, cluster, tmp_path):
    bin_path, manifest = sim
    urls = {}
    for encoding in ("raw", "shuffle-gzip"):
        m = harness.put_cloud_run(s3, backend["bucket"], f"enc-{encoding}", bin_path, manifest, PART_RECORDS, encoding=encoding)
        urls[encoding] = f"s3://{backend['bucket']}/runs/enc-{encoding}"
    assert m["parts"][0]["encoding"] == "shuffle-gzip" and m["parts"][0]["stored_bytes"] < m["parts"][0]["bytes"] / 2
    raw = {**analyze(urls["raw"], out_dir=tmp_path / "raw"), "run_id": None}
    same_result(raw, {**analyze(urls["shuffle-gzip"], out_dir=tmp_path / "packed"), "run_id": None})
    same_result(raw, {**analyze(urls["shuffle-gzip"], out_dir=tmp_path / "dask", client=cluster), "run_id": None})
    assert raw["traversals"] > 100_000


def test_many_bucket_runs_on_the_cluster_skip_damaged_and_incomplete_ones(backend, s3, sim, cluster, tmp_path):
    bin_path, manifest = sim
    bucket = backend["bucket"]
    for run_id, spread in (("sweep-a", 0.1), ("sweep-b", 0.2)):
        source = {**manifest["source"], "params": {**manifest["source"]["params"], "spread": spread}}
        harness.put_cloud_run(s3, bucket, run_id, bin_path, {**manifest, "source": source}, PART_RECORDS)
    harness.put_cloud_run(s3, bucket, "sweep-load", bin_path, {**manifest, "source": {"name": "load"}}, PART_RECORDS)
    harness.put_cloud_run(s3, bucket, "sweep-half", bin_path, manifest, PART_RECORDS, with_manifest=False)
    harness.put_cloud_run(s3, bucket, "sweep-bad", bin_path, manifest, PART_RECORDS)
    body = s3.get_object(Bucket=bucket, Key="runs/sweep-bad/part-000004.bin")["Body"].read()
    s3.put_object(Bucket=bucket, Key="runs/sweep-bad/part-000004.bin", Body=body[:50] + bytes(10) + body[60:])

    out = harness.run_cli("analyze", f"s3://{bucket}/runs/sweep-*", "--out", tmp_path, "--json",
                          "--scheduler", cluster.scheduler.address, env=harness.s3_env(backend))
    assert out.returncode == 1, out.stderr  # some runs were skipped; the others' results stand
    assert out.stdout, out.stderr
    r = json.loads(out.stdout)
    assert [x["run_id"] for x in r["runs"]] == ["sweep-a", "sweep-b", "sweep-load"]
    skipped = {s["location"].rsplit("/", 1)[1]: s["error"] for s in r["skipped"]}
    assert "part-000004.bin: CRC32C mismatch" in skipped["sweep-bad"] and "incomplete" in skipped["sweep-half"]
    assert f"skipped s3://{bucket}/runs/sweep-bad" in out.stderr
    assert r["runs"][2]["alpha"] is None and r["runs"][2]["traversals"] == r["runs"][0]["traversals"]
    pooled = r["pooled"]
    assert pooled["runs"] == 2 and pooled["traversals"] == 2 * r["runs"][0]["traversals"]
    assert abs(pooled["alpha"] / 0.15 - 1) < 0.05 and abs(pooled["beta"] / 4 - 1) < 0.05
    width = [x["alpha_ci"][1] - x["alpha_ci"][0] for x in (pooled, r["runs"][0])]
    assert width[0] == pytest.approx(width[1] / 2 ** 0.5, rel=0.02)  # twice the traversals (the same ones)

    sweep = pl.read_parquet(tmp_path / "sweep.parquet").sort("location")
    assert pl.read_csv(tmp_path / "sweep.csv").shape == sweep.shape
    assert sweep["analysed"].to_list() == [True, True, False, False, True]
    assert sweep.filter(pl.col("run_id") == "sweep-b")["param_spread"].item() == 0.2
    ok = sweep.filter(pl.col("alpha").is_not_null())
    assert (ok["alpha_lo"] < ok["alpha"]).all() and (ok["beta"] < ok["beta_hi"]).all()
    assert (tmp_path / "sweep-a" / "edges.parquet").is_file() and not (tmp_path / "sweep-bad").exists()


@pytest.mark.parametrize("partition_records", [120_000, 1 << 20], ids=["4 partitions", "one run one task"])
def test_in_process_and_dask_agree_on_many_local_runs(sim, cluster, tmp_path, monkeypatch, partition_records):
    import vpslog.analysis._scan as scan

    monkeypatch.setattr(scan, "PARTITION_RECORDS", partition_records)
    bin_path, _ = sim
    alone = analyze_runs([bin_path.parent])
    on_dask = analyze_runs([bin_path.parent, tmp_path / "nothing.bin"], client=cluster)
    assert on_dask["skipped"] == [{"location": str(tmp_path / "nothing.bin"), "error": f"{tmp_path / 'nothing.bin'}: no such file"}]
    same_result(alone["runs"][0], on_dask["runs"][0])
    assert alone["pooled"] == on_dask["pooled"]


def test_dask_workers_hold_a_few_blocks_of_pieces_however_many_blocks(sim, cluster, monkeypatch):
    """The memory bound on Dask: a large run's pieces wait in files, never all in memory at once
    (this run is small, so the plan is told to spill, and has ~19 blocks of 4 pieces each)."""
    import vpslog.analysis._scan as scan
    import vpslog.runs as runs

    monkeypatch.setattr(runs, "BLOCK_RECORDS", 25_000)
    monkeypatch.setattr(scan, "SPILL_ABOVE_RECORDS", 0)
    bin_path, manifest = sim
    blocks, k_total = -(-manifest["records"] // 25_000), scan.partition_count(manifest["records"])
    alone = analyze(bin_path)
    cluster.run(scan.peak_pieces, True)
    on_dask = analyze(bin_path, client=cluster)
    peaks = cluster.run(scan.peak_pieces)
    same_result(alone, on_dask)
    # each worker's group keeps k_total / 2 pieces per block; holding a run's pieces would keep them all
    assert blocks >= 15 and k_total == 4 and 0 < max(peaks.values()) <= 2 * k_total // 2, peaks


def put_wide_cloud_run(s3, bucket: str, run_id: str, bin_path: Path, manifest: dict) -> None:
    """A wide-id run as the CLOUD sink stores one: an empty events stream, and the events_wide
    stream's parts under runs/<runId>/events_wide/, listed in its streams entry."""
    import crc32c

    (wide,) = [s for s in manifest["streams"] if s["name"] == "events_wide"]
    data = bin_path.with_name(wide["file"]).read_bytes()
    step, parts = PART_RECORDS * wide["layout"]["record_size"], []
    for i, at in enumerate(range(0, len(data), step), start=1):
        body, key = data[at:at + step], f"runs/{run_id}/events_wide/part-{i:06d}.bin"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        parts.append({"part": i, "key": key, "bytes": len(body), "records": len(body) // wide["layout"]["record_size"],
                      "crc32c": f"{crc32c.crc32c(body):08x}"})
    streams = [s if s is not wide else {**wide, "parts": parts} for s in manifest["streams"]]
    m = {**manifest, "run_id": run_id, "mode": "cloud", "parts": [], "streams": streams}
    s3.put_object(Bucket=bucket, Key=f"runs/{run_id}/manifest.json", Body=json.dumps(m).encode())


def test_a_wide_bucket_run_gives_the_files_results_in_process_and_on_dask(backend, s3, cluster, tmp_path):
    out = harness.run_cli("simulate", "--out", tmp_path / "sim", "--workers", "1", "--seed", "3",
                          "-p", "vehicles=70000", "-p", "duration_s=60")
    assert out.returncode == 0, out.stderr
    bin_path, manifest_path = map(Path, out.stdout.split())
    put_wide_cloud_run(s3, backend["bucket"], "cloud-wide", bin_path, json.loads(manifest_path.read_text()))
    url = f"s3://{backend['bucket']}/runs/cloud-wide"
    on_file = analyze(bin_path)
    same_result(on_file, {**analyze(url), "run_id": on_file["run_id"]})
    same_result(on_file, {**analyze(url, client=cluster), "run_id": on_file["run_id"]})
    assert on_file["stream"] == "events_wide" and on_file["traversals"] == on_file["reported_traversals"] > 100_000
