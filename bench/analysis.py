"""Analysis benchmark (part of `npm run bench`), side by side in one run:

- `vpslog analyze` in this process, and on an embedded Dask LocalCluster of 1 and 2 workers
  (cluster start-up included, as the CLI pays it);
- the straightforward DuckDB and Polars versions a user would write (bench/peers/), checked
  against vpslog's traversal counts and alpha/beta;

on a 100 M-record (1 GB) traffic run and on a sweep of >= 20 simulated runs; wall time and peak
resident memory of each child process tree (sampled every 50 ms), medians of --reps. Also the
run catalogue: `vpslog ls` of 1,000 runs in local S3 (moto).

The 100 M-record file is a real simulated run repeated with time offsets: each copy is the same
vehicles driving the same trips again later, so it is a valid log with known BPR ground truth,
made in seconds instead of the ~10 minutes a single 100 M-record simulation takes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "build" / "bench"
PEERS = Path(__file__).resolve().parent / "peers"

VPSLOG_CHILD = """
import json, sys, time
from vpslog.analysis import analyze_runs
from vpslog.analysis._engine import close_client, local_client
if __name__ == "__main__":
    workers = int(sys.argv[1])  # 0: this process
    t = time.perf_counter()
    client = local_client(workers) if workers else None
    print(json.dumps({"startup_s": time.perf_counter() - t}))
    t = time.perf_counter()
    r = analyze_runs(sys.argv[2:], client=client)
    print(json.dumps({"analysis_s": time.perf_counter() - t}))
    assert not r["skipped"], r["skipped"]
    for x in r["runs"]:
        print(json.dumps({k: x[k] for k in ("traversals", "alpha", "beta")}))
    if client is not None:
        close_client(client)
"""


def build_file(records_target: int) -> Path:
    from vpslog.record import numpy_dtype
    from vpslog.simulate import simulate

    WORK.mkdir(parents=True, exist_ok=True)
    big = WORK / f"traffic-{records_target}.bin"
    if big.exists():
        return big
    for old in WORK.glob("run-*"):
        old.unlink()
    t = time.perf_counter()
    base_bin, base_man = simulate(WORK, "traffic", {"vehicles": 65_535, "grid": 48}, workers=2, seed=3)
    print(f"# base run: {base_bin.stat().st_size // 10:,} records simulated in {time.perf_counter() - t:.1f} s", flush=True)
    base = np.fromfile(base_bin, dtype=numpy_dtype())
    span = int(base["time_ms"].max()) + 1
    copies = -(-records_target // len(base))
    import crc32c

    crc = 0
    with big.open("wb") as f:
        for i in range(copies):
            tile = base.copy()
            tile["time_ms"] += np.uint32(i * span)
            raw = tile.tobytes()
            crc = crc32c.crc32c(raw, crc)
            f.write(raw)
    m = json.loads(base_man.read_text())
    n = copies * len(base)
    m.update(run_id=big.stem, records=n, bytes=n * 10, checksum={"algorithm": "crc32c", "value": f"{crc:08x}"})
    for p in m["producers"]:
        for k in ("records", "buffers", "reported_records"):
            p[k] *= copies
        p["stats"] = {k: v * copies for k, v in p["stats"].items()}
    big.with_name(big.stem + ".manifest.json").write_text(json.dumps(m))
    base_bin.unlink()
    base_man.unlink()
    return big


def build_sweep(count: int) -> list[Path]:
    """``count`` real simulated runs, a sweep over alpha and beta (kept between bench runs)."""
    from vpslog.simulate import simulate

    folder = WORK / f"sweep-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    have = sorted(folder.glob("*.bin"))
    if len(have) >= count:
        return have[:count]
    t = time.perf_counter()
    for i in range(len(have), count):
        alpha, beta = (0.15, 0.3, 0.6, 1.0)[i % 4], (2.0, 3.0, 4.0, 5.0, 6.0)[i // 4 % 5]
        simulate(folder, "traffic", {"alpha": alpha, "beta": beta, "vehicles": 30_000}, workers=2, seed=100 + i)
    print(f"# sweep: {count} runs simulated in {time.perf_counter() - t:.0f} s", flush=True)
    return sorted(folder.glob("*.bin"))[:count]


def measure(cmd: list[str]) -> dict:
    """Wall time, peak resident memory of the whole process tree (sampled), and the JSON lines printed."""
    import psutil

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [ps, *ps.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - t
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{cmd[:3]} failed:\n{err[-3000:]}")
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    startup = sum(x.get("startup_s", 0) for x in lines)
    analysis = [x["analysis_s"] for x in lines if "analysis_s" in x]
    return {"seconds": seconds, "work_s": seconds - startup, "peak_mb": peak / 2**20,
            # the analysis alone, without the interpreter's start, imports and the cluster's start (vpslog modes)
            "analysis_s": analysis[0] if analysis else float("nan"),
            "results": [x for x in lines if "startup_s" not in x and "analysis_s" not in x]}


MODES = {
    "vpslog in-process": lambda paths: [sys.executable, "-c", VPSLOG_CHILD, "0", *paths],
    "vpslog Dask 1 worker": lambda paths: [sys.executable, "-c", VPSLOG_CHILD, "1", *paths],
    "vpslog Dask 2 workers": lambda paths: [sys.executable, "-c", VPSLOG_CHILD, "2", *paths],
    "DuckDB peer": lambda paths: [sys.executable, str(PEERS / "duckdb_peer.py"), *paths],
    "Polars peer": lambda paths: [sys.executable, str(PEERS / "polars_peer.py"), *paths],
}
PEER_MODES = ("DuckDB peer", "Polars peer")


def compare(title: str, paths: list[Path], modes: list[str], reps: int) -> dict:
    runs = {m: [] for m in modes}
    for _ in range(reps):
        for m in modes:  # interleaved, so load changes hit every mode alike
            runs[m].append(measure(MODES[m]([str(p) for p in paths])))
            print(f"#   {m}: {runs[m][-1]['seconds']:.1f} s, {runs[m][-1]['peak_mb']:.0f} MB"
                  f" (load average {os.getloadavg()[0]:.1f})", flush=True)
    ref = runs[modes[0]][0]["results"]
    problems = []
    for m in modes:
        for got, want in zip(runs[m][0]["results"], ref):
            if got["traversals"] != want["traversals"] or any(abs(got[k] / want[k] - 1) > 1e-5 for k in ("alpha", "beta")):
                problems.append(f"{m}: {got} != {want}")
    records = sum(p.stat().st_size // 10 for p in paths)
    med = {m: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "work_s", "analysis_s", "peak_mb")}
           for m, rs in runs.items()}
    print()
    print(f"{title}: {len(paths)} run(s), {records:,} records, medians of {reps}")
    print(f"{'':<24}{'seconds':>10}{'w/o cluster start':>19}{'analysis only':>15}{'peak RSS MB':>14}{'M records/s':>14}")
    for m in modes:
        print(f"{m:<24}{med[m]['seconds']:>10.1f}{med[m]['work_s']:>19.1f}{med[m]['analysis_s']:>15.1f}"
              f"{med[m]['peak_mb']:>14.0f}{records / med[m]['seconds'] / 1e6:>14.2f}")
    print("check against vpslog (traversals equal, alpha/beta within 1e-5):", "OK" if not problems else problems)
    peers = [m for m in modes if m in PEER_MODES]
    best = min(peers, key=lambda m: med[m]["seconds"])
    ours = min((m for m in modes if m not in PEER_MODES), key=lambda m: med[m]["seconds"])
    speed, memory = med[best]["seconds"] / med[ours]["seconds"], med[ours]["peak_mb"] / med[best]["peak_mb"]
    print(f"goal >= 2x faster than the best peer at <= 1/4 of its memory: {ours} vs {best}: "
          f"{speed:.2f}x faster, {memory:.2f} of its peak memory -> {'MET' if speed >= 2 and memory <= 0.25 else 'NOT MET'}")
    if "vpslog Dask 1 worker" in med and "vpslog Dask 2 workers" in med:
        one, two = med["vpslog Dask 1 worker"], med["vpslog Dask 2 workers"]
        scale, work, alone = (one[k] / two[k] for k in ("seconds", "work_s", "analysis_s"))
        print(f"goal throughput >= 1.7x from 1 to 2 Dask workers: {scale:.2f}x wall, {work:.2f}x without the cluster"
              f" start, {alone:.2f}x for the analysis alone (no interpreter, imports or cluster start)"
              f" -> {'MET' if alone >= 1.7 else 'NOT MET'}")
    a = ref[0]
    print(f"first run: {a['traversals']:,} traversals, alpha {a['alpha']:.4f}, beta {a['beta']:.3f}")
    return med


def catalogue_bench(runs: int) -> None:
    """`vpslog ls` of a bucket holding ``runs`` run manifests, against local S3 (moto)."""
    from vpslog.backend.local_s3 import create_bucket, start_moto
    from vpslog.backend.settings import Settings
    from vpslog.manifest import closed_manifest

    server, endpoint = start_moto()
    try:
        settings = Settings(endpoint=endpoint, bucket="bench")
        create_bucket(settings, endpoint)
        s3 = settings.client()
        for i in range(runs):
            m = closed_manifest(run_id=f"run-{i:05d}", mode="cloud", config={}, source={"name": "load", "params": {"rate": i}},
                                producers=[], records=0, checksum="00000000", created_at="2026-11-28T00:00:00Z")
            s3.put_object(Bucket="bench", Key=f"runs/run-{i:05d}/manifest.json", Body=json.dumps(m).encode())
        env = {"VPSLOG_S3_ENDPOINT": endpoint, "VPSLOG_S3_ACCESS_KEY_ID": settings.access_key_id,
               "VPSLOG_S3_SECRET_ACCESS_KEY": settings.secret_access_key}
        times = []
        for _ in range(4):  # the first listing reads every manifest and writes runs/catalogue.json
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "vpslog.cli", "ls", "s3://bench", "--json"],
                                 capture_output=True, text=True, env={**os.environ, **env}, check=True)
            times.append(time.perf_counter() - t)
            assert len(json.loads(out.stdout)) == runs
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import vpslog.runs, boto3"], check=True)
        start = time.perf_counter() - t
        print(f"\nvpslog ls of {runs:,} runs in local S3 (moto), process start ({start:.2f} s) included:"
              f" {times[0]:.2f} s reading every manifest (32 in flight), then {statistics.median(times[1:]):.2f} s"
              f" (median of 3) from runs/catalogue.json")
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100_000_000, help="size of the large run (default 100 M)")
    ap.add_argument("--runs", type=int, default=20, help="runs in the sweep (default 20)")
    ap.add_argument("--reps", type=int, default=1, help="repetitions per mode (medians; default 1: minutes per rep)")
    ap.add_argument("--only", choices=("large", "sweep", "catalogue"), help="one part only")
    args = ap.parse_args()
    if args.only in (None, "catalogue"):
        catalogue_bench(1000)
    if args.only in (None, "sweep"):
        compare("many runs", build_sweep(args.runs), list(MODES), args.reps)
    if args.only in (None, "large"):
        compare("one large run", [build_file(args.records)],
                ["vpslog in-process", "vpslog Dask 2 workers", *PEER_MODES], args.reps)


if __name__ == "__main__":
    main()
