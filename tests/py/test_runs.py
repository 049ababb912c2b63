"""Where runs live: the catalogue (`vpslog ls`) of a directory and of a bucket (moto S3 behind
`vpslog serve`), and `vpslog verify` of a CLOUD run streamed from the bucket."""

import json
import sys
from pathlib import Path

import crc32c
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness
from vpslog import record, store
from vpslog.manifest import closed_manifest


def small_run(folder: Path, run_id: str, n: int, status="closed", params=None) -> tuple[Path, dict]:
    data = record.pack([(t, t % 50, t % 9, 1 + t % 2) for t in range(n)])
    m = closed_manifest(run_id=run_id, mode="cli", config={}, records=n, checksum=f"{crc32c.crc32c(data):08x}",
                        source={"name": "load", "version": 1, "params": params or {"rate": n}},
                        producers=[{"id": 0, "records": n, "buffers": 1, "reported_records": n}],
                        created_at="2026-11-28T00:00:00.000Z")
    m["status"] = status
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run_id}.bin").write_bytes(data)
    (folder / f"{run_id}.manifest.json").write_text(json.dumps(m))
    return folder / f"{run_id}.bin", m


@pytest.fixture(scope="module")
def bucket(backend):
    from vpslog.backend.settings import Settings

    env = harness.s3_env(backend)
    s3 = Settings.from_env(env).client()
    return s3, backend["bucket"], env


def test_ls_of_a_directory(tmp_path):
    small_run(tmp_path, "run-b", 300, params={"rate": 7, "vehicles": 3})
    small_run(tmp_path, "run-a", 100, status="open")
    (tmp_path / "run-c.bin").write_bytes(b"")  # a run file whose manifest never landed
    out = harness.run_cli("ls", tmp_path, "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["run_id"]: r for r in json.loads(out.stdout)}
    assert rows["run-b"]["records"] == 300 and rows["run-b"]["bytes"] == 3000 and rows["run-b"]["complete"]
    assert rows["run-b"]["source"] == "load" and rows["run-b"]["params"] == {"rate": 7, "vehicles": 3}
    assert not rows["run-a"]["complete"] and rows["run-a"]["status"] == "open"
    assert not rows["run-c"]["complete"] and "not found" in rows["run-c"]["problem"]
    table = harness.run_cli("ls", tmp_path).stdout
    assert "run-b" in table and "rate=7 vehicles=3" in table and "3 run(s), 2 incomplete" in table


def test_ls_of_a_bucket_reads_manifests_and_names_incomplete_runs(bucket, tmp_path):
    s3, name, env = bucket
    for i in range(3):
        path, m = small_run(tmp_path, f"cat-{i}", 1000 * (i + 1), params={"rate": i})
        harness.put_cloud_run(s3, name, f"cat-{i}", path, m, part_records=700, with_manifest=i != 2)
    out = harness.run_cli("ls", f"s3://{name}/runs/cat-*", "--json", env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["run_id"] for r in rows] == ["cat-0", "cat-1", "cat-2"]
    assert [r["complete"] for r in rows] == [True, True, False]
    assert rows[1]["records"] == 2000 and rows[1]["mode"] == "cloud" and rows[1]["params"] == {"rate": 1}
    assert rows[2]["problem"] == "incomplete: no manifest yet, 5 part(s) uploaded"
    assert harness.run_cli("ls", "s3://x/../etc", env=env).returncode == 1


def test_the_bucket_catalogue_object_stays_right_when_runs_land_at_once(bucket, tmp_path):
    """Complete runs' rows are kept in runs/catalogue.json; concurrent listings merge into it."""
    from concurrent.futures import ThreadPoolExecutor

    s3, name, env = bucket
    path, m = small_run(tmp_path, "cc-0", 100)
    harness.put_cloud_run(s3, name, "cc-0", path, m)
    first = json.loads(harness.run_cli("ls", f"s3://{name}/runs/cc-*", "--json", env=env).stdout)
    cached = json.loads(s3.get_object(Bucket=name, Key="runs/catalogue.json")["Body"].read())["runs"]
    assert cached["cc-0"] == first[0]
    for i in range(1, 7):  # six browsers finish runs, four listings run at once
        path, m = small_run(tmp_path, f"cc-{i}", 100 + i)
        harness.put_cloud_run(s3, name, f"cc-{i}", path, m)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: harness.run_cli("ls", f"s3://{name}/runs/cc-*", "--json", env=env), range(4)))
    assert all(o.returncode == 0 and len(json.loads(o.stdout)) == 7 for o in outs), [o.stderr for o in outs]
    cached = json.loads(s3.get_object(Bucket=name, Key="runs/catalogue.json")["Body"].read())["runs"]
    assert {f"cc-{i}" for i in range(7)} <= set(cached)
    assert json.loads(harness.run_cli("ls", f"s3://{name}/runs/cc-*", "--json", env=env).stdout) == json.loads(outs[0].stdout)


def test_a_catalogue_update_never_overwrites_a_concurrent_one(bucket):
    import vpslog.runs as runs

    s3, name, _ = bucket
    known, etag = runs._read_catalogue(s3, name)
    # another listing adds a run between our read and our write
    s3.put_object(Bucket=name, Key=store.CATALOGUE_KEY,
                  Body=json.dumps({"runs": {**known, "other": {"complete": True}}}).encode())
    assert runs._add_to_catalogue(s3, name, {"mine": {"complete": True}}, known, etag)
    cached = json.loads(s3.get_object(Bucket=name, Key=store.CATALOGUE_KEY)["Body"].read())["runs"]
    assert {"other", "mine"} <= set(cached) and set(known) <= set(cached)


def test_verify_streams_a_cloud_run_and_names_a_damaged_part(bucket, tmp_path):
    s3, name, env = bucket
    path, m = small_run(tmp_path, "ver-a", 5000)
    harness.put_cloud_run(s3, name, "ver-a", path, m, part_records=2000)
    out = harness.run_cli("verify", f"s3://{name}/runs/ver-a", "--json", env=env)
    r = json.loads(out.stdout)
    assert out.returncode == 0 and r["ok"] and r["records"] == 5000 and r["checksum"] == m["checksum"]["value"], r
    s3.put_object(Bucket=name, Key="runs/ver-a/part-000002.bin", Body=path.read_bytes()[20000:40000][::-1])
    out = harness.run_cli("verify", f"s3://{name}/runs/ver-a", env=env)
    assert out.returncode == 1 and "runs/ver-a/part-000002.bin: CRC32C mismatch" in out.stderr
    out = harness.run_cli("verify", f"s3://{name}/runs/ver-missing", env=env)
    assert out.returncode == 1 and "incomplete" in out.stderr


def test_verify_reads_compressed_parts_and_a_garbled_one_loses_no_other(bucket, tmp_path):
    s3, name, env = bucket
    path, m = small_run(tmp_path, "ver-z", 5000)
    harness.put_cloud_run(s3, name, "ver-z", path, m, part_records=2000, encoding="shuffle-gzip")
    out = harness.run_cli("verify", f"s3://{name}/runs/ver-z", "--json", env=env)
    r = json.loads(out.stdout)
    assert out.returncode == 0 and r["ok"] and r["records"] == 5000 and r["checksum"] == m["checksum"]["value"], r
    key = "runs/ver-z/part-000002.bin"
    body = s3.get_object(Bucket=name, Key=key)["Body"].read()
    s3.put_object(Bucket=name, Key=key, Body=body[:30] + bytes(len(body) - 30))  # same size, garbled
    out = harness.run_cli("verify", f"s3://{name}/runs/ver-z", "--json", env=env)
    r = json.loads(out.stdout)
    assert out.returncode == 1 and r["records"] == 3000  # parts 1 and 3 are still read
    assert [p for p in r["problems"] if p.startswith(key)] == [
        f"{key}: the stored shuffle-gzip object's CRC32C differs from the manifest's"]


def test_verify_of_a_bucket_run_reads_every_stream_and_names_a_damaged_one(bucket, tmp_path):
    s3, name, env = bucket
    out = harness.run_cli("simulate", "--out", tmp_path, "--source", Path(harness.REPO) / "examples" / "vehicle_logger.py",
                          "--workers", 2, "-p", "vehicles=4", "-p", "minutes=0.2", "-p", "range_m=1000")
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.split()[0])
    m = json.loads(path.with_name(path.name.removesuffix(".bin") + ".manifest.json").read_text())
    harness.put_cloud_run(s3, name, "ver-s", path, m, part_records=2000)
    r = json.loads(harness.run_cli("verify", f"s3://{name}/runs/ver-s", "--json", env=env).stdout)
    assert r["ok"] and not r["warnings"], r
    assert {s["name"]: s["records"] for s in r["streams"]} == {s["name"]: s["records"] for s in m["streams"][1:]}
    assert [s["checksum"] for s in r["streams"]] == [s["checksum"]["value"] for s in m["streams"][1:]]
    key = "runs/ver-s/telemetry/part-000002.bin"
    body = s3.get_object(Bucket=name, Key=key)["Body"].read()
    s3.put_object(Bucket=name, Key=key, Body=body[::-1])  # same size, other records
    out = harness.run_cli("verify", f"s3://{name}/runs/ver-s", env=env)
    assert out.returncode == 1 and f"stream telemetry: {key}: CRC32C mismatch" in out.stderr, out.stderr


def test_a_run_and_its_stream_files_name_the_run_once(fleet, tmp_path, run_cli):
    """`RUN*.bin` (a shell glob) lists a run's stream files beside it: each is that run, not a run
    without a manifest, so analyze, describe and export see each run once."""
    from vpslog.runs import LocalRun, resolve, resolve_all

    files = sorted(fleet.parent.glob("*.bin"))
    assert len(files) == 4  # events, telemetry, fleet, local
    run = LocalRun(str(fleet), str(fleet.with_name(fleet.name.removesuffix(".bin") + ".manifest.json")))
    assert all(resolve(str(f)) == [run] for f in files)
    assert resolve_all(files) == [run]
    described = run_cli("describe", *files, "--json", check=True)
    assert [r["run_id"] for r in json.loads(described.stdout)["runs"]] == [fleet.stem]
    # a file named like a stream but with a manifest of its own is a run of its own
    other, _ = small_run(tmp_path, "run-a.b", 20)
    small_run(tmp_path, "run-a", 10)
    assert resolve(str(other)) == [LocalRun(str(other), str(tmp_path / "run-a.b.manifest.json"))]
