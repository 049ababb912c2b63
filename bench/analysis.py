"""Analysis benchmark (part of `npm run bench`), side by side in one run:

- `vpslog analyze RUN --json` as a user runs it: the default path (this process) and the
  explicit `--workers 2` (an embedded Dask LocalCluster of 2 worker processes, start included);
- the straightforward DuckDB and Polars versions a user would write (bench/peers/), checked
  against vpslog's traversal counts and alpha/beta;

on a large traffic run (default 100 M records, 1 GB) and on a sweep of >= 20 simulated runs;
and, in this process, the same traffic model on both sides of the wide-id switch (65,535 vs
65,536 vehicles: events vs events_wide);
wall time and peak resident memory of each child's whole process tree (sampled every 50 ms),
medians of --reps. Also the run catalogue: `vpslog ls` of 1,000 runs in local S3 (moto).

The large run is made of distinct simulated runs laid end to end in time (bench/data.py, cached
under build/bench-data); ``--distinct N`` cycles N of them instead, for sizes whose simulation
would take hours (memory checks, not speed figures).
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

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "build" / "bench"
PEERS = Path(__file__).resolve().parent / "peers"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import fair_run  # noqa: E402

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
    results = [r for x in lines for r in x.get("runs", [x])]  # vpslog prints {"runs": [...]} for many runs
    return {"seconds": seconds, "peak_mb": peak / 2**20, "path": err.strip().splitlines()[0] if cmd[2:3] == ["vpslog.cli"] else "",
            "results": [{k: r[k] for k in ("traversals", "alpha", "beta")} for r in results]}


MODES = {
    "vpslog default": lambda paths: [sys.executable, "-m", "vpslog.cli", "analyze", *paths, "--json"],
    "vpslog --workers 2": lambda paths: [sys.executable, "-m", "vpslog.cli", "analyze", *paths, "--json", "--workers", "2"],
    "DuckDB peer": lambda paths: [sys.executable, str(PEERS / "duckdb_peer.py"), *paths],
    "Polars peer": lambda paths: [sys.executable, str(PEERS / "polars_peer.py"), *paths],
}
PEER_MODES = ("DuckDB peer", "Polars peer")


def compare(title: str, paths: list[Path], modes: list[str], reps: int) -> dict:
    runs = {m: [] for m in modes}
    for _ in range(reps):
        for m in modes:  # interleaved, so load changes hit every mode alike
            runs[m].append(measure(MODES[m]([str(p) for p in paths])))
            print(f"#   {m}: {runs[m][-1]['seconds']:.1f} s, {runs[m][-1]['peak_mb']:.0f} MB {runs[m][-1]['path']}"
                  f" (load average {os.getloadavg()[0]:.1f})", flush=True)
    ref = runs[modes[0]][0]["results"]
    problems = []
    for m in modes:
        for got, want in zip(runs[m][0]["results"], ref):
            if got["traversals"] != want["traversals"] or any(abs(got[k] / want[k] - 1) > 1e-5 for k in ("alpha", "beta")):
                problems.append(f"{m}: {got} != {want}")
    records = sum(p.stat().st_size // 10 for p in paths)
    med = {m: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_mb")} for m, rs in runs.items()}
    print()
    print(f"{title}: {len(paths)} run(s), {records:,} records ({records * 10 / 1e9:.2f} GB), medians of {reps}")
    print(f"{'':<22}{'seconds':>10}{'peak MB (tree)':>16}{'M records/s':>14}  path")
    for m in modes:
        print(f"{m:<22}{med[m]['seconds']:>10.1f}{med[m]['peak_mb']:>16.0f}{records / med[m]['seconds'] / 1e6:>14.2f}"
              f"  {runs[m][0]['path']}")
    print("check against vpslog (traversals equal, alpha/beta within 1e-5):", "OK" if not problems else problems)
    peers = [m for m in modes if m in PEER_MODES]
    if peers:
        best = min(peers, key=lambda m: med[m]["seconds"])
        ours = med["vpslog default"]
        speed, memory = med[best]["seconds"] / ours["seconds"], ours["peak_mb"] / med[best]["peak_mb"]
        print(f"goal: the default path >= 3x faster than the best peer at <= 1/4 of its memory: vs {best}: "
              f"{speed:.2f}x faster, {memory:.2f} of its peak memory -> {'MET' if speed >= 3 and memory <= 0.25 else 'NOT MET'}")
    a = ref[0]
    print(f"first run: {a['traversals']:,} traversals, alpha {a['alpha']:.4f}, beta {a['beta']:.3f}")
    return med


def wide_bench(reps: int) -> None:
    """``vpslog.analysis.analyze`` (in this process, start-up excluded) of the same model on both
    sides of the wide-id switch: traffic with 65,535 vehicles (events, 16-bit ids) and with 65,536
    (events_wide, 32-bit ids), same seed, grid and length; interleaved, medians of ``reps``."""
    from vpslog.analysis import analyze
    from vpslog.simulate import simulate

    runs = {}
    for label, vehicles in (("events (16-bit ids)", 65_535), ("events_wide (32-bit ids)", 65_536)):
        folder = WORK / "wide" / str(vehicles)
        if not list(folder.glob("*.manifest.json")):
            simulate(folder, "traffic", {"vehicles": vehicles, "grid": 64, "duration_s": 3600}, workers=2, seed=7)
        runs[label] = str(next(folder.glob("*.manifest.json"))).removesuffix(".manifest.json") + ".bin"
    seconds, results = {label: [] for label in runs}, {}
    for _ in range(reps):
        for label, path in runs.items():  # interleaved, so load changes hit both alike
            t = time.perf_counter()
            results[label] = analyze(path)
            seconds[label].append(time.perf_counter() - t)
    print(f"\nwide ids: vpslog analyze in this process, medians of {reps} (load average {os.getloadavg()[0]:.1f})")
    print(f"{'':<28}{'records':>12}{'seconds':>10}{'ns/record':>11}  traversals, alpha, beta")
    for label, r in results.items():
        sec = statistics.median(seconds[label])
        print(f"{label:<28}{r['records']:>12,}{sec:>10.2f}{sec / r['records'] * 1e9:>11.0f}"
              f"  {r['traversals']:,}, {r['alpha']:.4f}, {r['beta']:.3f}")


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
    ap.add_argument("--distinct", type=int, help="simulated runs the large run cycles (default: all distinct)")
    ap.add_argument("--modes", help="comma-separated subset of: " + ", ".join(MODES))
    ap.add_argument("--only", choices=("large", "sweep", "catalogue", "wide"), help="one part only")
    args = ap.parse_args()
    modes = args.modes.split(",") if args.modes else list(MODES)
    if args.only in (None, "catalogue"):
        catalogue_bench(1000)
    if args.only in (None, "sweep"):
        compare("many runs", build_sweep(args.runs), modes, args.reps)
    if args.only in (None, "wide"):
        wide_bench(max(args.reps, 5))
    if args.only in (None, "large"):
        compare("one large run", [fair_run(args.records, args.distinct)], modes, args.reps)


if __name__ == "__main__":
    main()
