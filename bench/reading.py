"""Reading benchmark (issue 18, docs/reading.md), side by side in one run, medians of --reps:

- frame: ``run.frame("events")`` against ``np.fromfile`` + ``pl.from_numpy`` written by hand;
- scan: ``run.scan().filter(status == exit).group_by(edge_id)`` against the same query by hand
  (``np.memmap`` blocks and ``np.bincount``), on a run larger than 2x the memory each child may
  use: ``resource.setrlimit(RLIMIT_DATA)`` in the child (private writable memory: heap and
  anonymous maps; RLIMIT_AS also counts the address space Polars reserves but never touches, and
  under it jemalloc loops on failed thread starts);
- parquet: the events stream to Parquet with ``vpslog export`` (``vpslog.io.export``) against
  pyarrow's ``ParquetWriter`` by hand: zstd level 3 (Polars' default), the same row groups, the
  same schema (status a dictionary of its labels).

Each case runs in its own child process; bench/analysis.py's ``measure`` gives its wall time and
the peak resident memory of its process tree. The child also times its own work (import excluded)
and writes what it found to a report file, which must agree between the two sides. The runs are
real ``vpslog simulate`` runs of the load source, cached under build/bench-data/reading.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis import measure  # noqa: E402
from data import DATA  # noqa: E402

RATE = 1_000_000  # events per simulated second per worker, 2 workers
ROW_GROUP = 1 << 20
LEVEL = 3  # zstd
STATUS = {"enter": 1, "exit": 2, "error": 3}


def load_run(records: int) -> Path:
    """A real load-source run of ``records`` events (rounded to 2,000), simulated once and cached."""
    from vpslog.simulate import simulate

    folder = DATA / "reading" / f"load-{records}"
    if not list(folder.glob("*.manifest.json")):
        t = time.perf_counter()
        simulate(folder, "load", {"rate": RATE, "duration_ms": max(1, records // (2 * RATE // 1000))}, workers=2, seed=1)
        print(f"# {records:,}-record load run simulated in {time.perf_counter() - t:.0f} s", flush=True)
    manifest = next(folder.glob("*.manifest.json"))
    return manifest.with_name(manifest.name.removesuffix(".manifest.json") + ".bin")


# --- the children: each does one thing and reports what it found ---------------------------------

def _events_dtype():
    from vpslog.record import numpy_dtype

    return numpy_dtype()


def frame_vpslog(path: str, out: str):
    import vpslog

    return vpslog.read(path).frame("events")


def frame_by_hand(path: str, out: str):
    import numpy as np
    import polars as pl

    return pl.from_numpy(np.fromfile(path, dtype=_events_dtype()))


def scan_vpslog(path: str, out: str):
    import polars as pl
    import vpslog

    return (vpslog.read(path).scan().filter(pl.col("status") == "exit")
            .group_by("edge_id").agg(exits=pl.len(), time_sum=pl.col("time_ms").cast(pl.UInt64).sum()).collect())


def scan_by_hand(path: str, out: str):
    import numpy as np
    import polars as pl

    rec = np.memmap(path, dtype=_events_dtype(), mode="r")
    exits, time_sum = np.zeros(1 << 16, np.int64), np.zeros(1 << 16, np.float64)  # float64: exact below 2**53
    step = 4 << 20
    for i in range(0, len(rec), step):
        block = rec[i:i + step]
        ex = block[block["status"] == 2]
        exits += np.bincount(ex["edge_id"], minlength=1 << 16)
        time_sum += np.bincount(ex["edge_id"], weights=ex["time_ms"], minlength=1 << 16)
    seen = np.flatnonzero(exits)
    return pl.DataFrame({"edge_id": seen, "exits": exits[seen], "time_sum": time_sum[seen]})


def parquet_vpslog(path: str, out: str):
    from vpslog.io import export

    written = export(path, Path(out).with_suffix(".export"), "parquet", ["events"], force=True, rows=ROW_GROUP)
    os.replace(next(f for f in written["files"] if f.suffix == ".parquet"), out)


def parquet_by_hand(path: str, out: str):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rec = np.memmap(path, dtype=_events_dtype(), mode="r")
    labels = pa.array(list(STATUS))
    schema = pa.schema([("time_ms", pa.uint32()), ("vehicle_id", pa.uint16()), ("edge_id", pa.uint16()),
                        ("status", pa.dictionary(pa.uint8(), pa.large_string(), ordered=True)), ("pad", pa.uint8())])
    with pq.ParquetWriter(out, schema, compression="zstd", compression_level=LEVEL) as w:
        for i in range(0, len(rec), ROW_GROUP):
            b = rec[i:i + ROW_GROUP]
            status = pa.DictionaryArray.from_arrays(pa.array(b["status"] - np.uint8(1)), labels, ordered=True)
            w.write_table(pa.Table.from_arrays([pa.array(np.ascontiguousarray(b[c])) for c in ("time_ms", "vehicle_id", "edge_id")]
                                               + [status, pa.array(np.ascontiguousarray(b["pad"]))], schema=schema),
                          row_group_size=ROW_GROUP)


def _facts(case: str, got, out: str) -> dict:
    """What a side found, to hold against the other side: column sums, the query's result, the file's contents."""
    import polars as pl

    if case == "parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(out).metadata
        got = pl.scan_parquet(out)  # read back as any reader would
        size = {"rows": meta.num_rows, "row_groups": meta.num_row_groups}
    else:
        got, size = got.lazy(), {}
    if case == "scan":
        got = got.select(pl.col("edge_id").cast(pl.UInt16), pl.col("exits", "time_sum").cast(pl.Int64))
        return {"edges": got.select(pl.len()).collect().item(),
                **got.select(pl.col("exits", "time_sum").sum(), hash=pl.struct(pl.all()).hash().sum()).collect().row(0, named=True)}
    # status as codes or labels (an Enum, a Parquet dictionary): its sum from a count per value
    counts = got.group_by("status").len().collect().rows()
    return {**size, **got.select(rows=pl.len(), **{c: pl.col(c).cast(pl.Int64).sum() for c in ("time_ms", "vehicle_id", "edge_id")})
            .collect().row(0, named=True), "status": sum(STATUS.get(v, v) * n for v, n in counts)}


CASES = {
    "frame": {"vpslog": frame_vpslog, "by hand": frame_by_hand},
    "scan": {"vpslog": scan_vpslog, "by hand": scan_by_hand},
    "parquet": {"vpslog": parquet_vpslog, "by hand": parquet_by_hand},
}
LABELS = {
    "frame": ('run.frame("events")', "np.fromfile + pl.from_numpy"),
    "scan": ("run.scan().filter().group_by()", "np.memmap blocks + np.bincount"),
    "parquet": ("vpslog export --format parquet", "pyarrow ParquetWriter"),
}


def child(case: str, side: str, path: str, out: str, report: str, limit_mb: str) -> None:
    import resource

    if limit := int(limit_mb) << 20:  # 0: no limit
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    t = time.perf_counter()
    got = CASES[case][side](path, out)
    seconds = time.perf_counter() - t
    # a Parquet file is read back by the parent: reading it here would add to this child's peak
    facts = None if case == "parquet" else _facts(case, got, out)
    Path(report).write_text(json.dumps({"seconds": seconds, "facts": facts}))


def _size(out: Path) -> dict:
    return {"MB": round(out.stat().st_size / 1e6, 1)} if out.exists() else {}


# --- the parent ---------------------------------------------------------------------------------

def compare(case: str, path: Path, reps: int, limit_mb: int | None, work: Path) -> dict:
    rows = {side: [] for side in CASES[case]}
    for rep in range(reps):
        for side in CASES[case]:  # interleaved, so load changes hit both sides alike
            out, report = work / f"{case}-{rep}-{side[0]}.parquet", work / "report.json"
            m = measure([sys.executable, __file__, "--child", case, side, str(path), str(out), str(report),
                         str(limit_mb or 0)])
            r = json.loads(report.read_text())
            facts = r["facts"] or _facts(case, None, str(out))
            rows[side].append({**m, "own": r["seconds"], "facts": {**facts, **_size(out)}})
            out.unlink(missing_ok=True)
            print(f"#   {case} {side}: {m['seconds']:.1f} s ({r['seconds']:.1f} s its work), {m['peak_mb']:.0f} MB"
                  f" (load average {os.getloadavg()[0]:.1f})", flush=True)
    facts = {side: rs[0]["facts"] for side, rs in rows.items()}
    # Parquet files' sizes differ by encoder; their rows, row groups and contents must not
    same = {json.dumps({k: v for k, v in f.items() if k != "MB"}, sort_keys=True) for f in facts.values()}
    agree = "OK" if len(same) == 1 else f"DIFFER {facts}"
    size = path.stat().st_size
    limit = f", each child limited to {limit_mb} MB (RLIMIT_DATA; run = {size / (limit_mb << 20):.1f}x that)" if limit_mb else ""
    print(f"\n{case}: {size // 10:,} records ({size / 1e9:.2f} GB){limit}, medians of {reps}")
    print(f"{'':<34}{'process s':>10}{'its work s':>11}{'peak MB':>9}  found")
    for side, label in zip(CASES[case], LABELS[case]):
        med = {k: statistics.median(r[k] for r in rows[side]) for k in ("seconds", "own", "peak_mb")}
        print(f"{label:<34}{med['seconds']:>10.1f}{med['own']:>11.1f}{med['peak_mb']:>9.0f}  {facts[side]}")
    print(f"both sides found the same: {agree}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000_000, help="frame and parquet run (default 100 M, 1 GB)")
    ap.add_argument("--scan-records", type=int, default=250_000_000, help="scan run (default 250 M, 2.5 GB)")
    ap.add_argument("--limit-mb", type=int, default=1024, help="scan children's RLIMIT_DATA (default 1024; 0: none)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", choices=tuple(CASES), help="one case only")
    ap.add_argument("--child", nargs=6, metavar=("CASE", "SIDE", "RUN", "OUT", "REPORT", "LIMIT_MB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    print(f"# {os.uname().nodename}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=DATA) as work:  # the Parquet outputs, on disk
        for case in [args.only] if args.only else CASES:
            scan = case == "scan"
            path = load_run(args.scan_records if scan else args.records)
            if scan and path.stat().st_size <= 2 * (args.limit_mb << 20):
                print(f"# scan: NOTE the run ({path.stat().st_size >> 20} MB) is not larger than 2x --limit-mb", flush=True)
            compare(case, path, args.reps, args.limit_mb if scan else None, Path(work))


if __name__ == "__main__":
    main()
