"""CLOUD part encodings side by side (the CLOUD section of `npm run bench`).

For each encoding of part_encoding.json: the bytes uploaded per 5 MiB part of
records and the logger worker's CPU time to encode one (shuffle + native
CompressionStream, in slices; the longest slice is how long the logger's
message handling can be held), with the load generator (random ids: the hard
case) and the traffic simulation (what the issue's ratios were measured on),
through the verifying gateway to moto. Then end-to-end CLOUD records/s with the
gateway throttled to a constrained uplink (`throttle_mbit`): from start() until
the run is whole in the bucket (its manifest last, after any DLQ replay).
Configurations are interleaved and repeated; medians are reported.

    .venv/bin/python bench/cloud.py --seconds 3 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import harness  # noqa: E402
from vpslog.part_encoding import DEFAULT, ENCODINGS  # noqa: E402

SOURCES = {
    "load": {"source": "load", "params": {"rate": 1_000_000, "vehicles": 20_000, "edges": 4_000, "error_rate": 0.001}},
    "traffic": {"source": "traffic", "params": {"vehicles": 60_000, "grid": 96, "duration_s": 600}, "seed": 1},
}
THROTTLED = ("raw", "shuffle-gzip", "shuffle-deflate-raw")

RUN_JS = """async ([encoding, source, seconds]) => {
  const pl = window.vpslog.pipeline;
  const done = new Promise((resolve) => pl.addEventListener('run', function on(e) {
    if (e.detail.state === 'closed') { pl.removeEventListener('run', on); resolve(e.detail); }
  }));
  const t0 = performance.now();
  await pl.start({ workers: 2, mode: 'cloud', pace: 'max', durationS: seconds, cloud: { encoding }, source });
  const d = await done;
  const logged = performance.now();
  // the stats posted before the run closed count what it left in the dead-letter queue
  while (window.vpslog.stats.dlqEntries > 0) await new Promise((r) => setTimeout(r, 50));
  const s = window.vpslog.stats;
  return { runId: d.runId, records: d.manifest.records, produced: d.produced, status: d.manifest.status,
           logS: (logged - t0) / 1000, wholeS: (performance.now() - t0) / 1000,
           parts: d.manifest.parts.map((p) => [p.bytes, p.stored_bytes]), encodeMs: s.encodeMs ?? [],
           stallMs: s.encodeStallMs ?? 0, toDlq: s.partsToDlq ?? 0, encodeError: s.encodeError ?? null };
}"""


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def _run(page, backend, s3, encoding, source, seconds):
    r = page.evaluate(RUN_JS, [encoding, source, seconds])
    assert r["status"] == "closed" and r["records"] == r["produced"] and not r["encodeError"], r
    s3.head_object(Bucket=backend["bucket"], Key=f"runs/{r['runId']}/manifest.json")  # whole in the bucket
    return r


def measure(page, backend, seconds: float = 3, reps: int = 3, mbit: float = 50, progress=print) -> dict:
    """``page``: the app in a persistent profile with its sims booted; ``backend``: its `vpslog serve`."""
    from vpslog.backend.settings import Settings

    s3 = Settings(endpoint=backend["upstream"]).client()
    runs: dict[tuple, list[dict]] = {}
    for rep in range(reps):
        harness.set_faults(backend)
        for src in SOURCES:
            for enc in ENCODINGS:
                r = _run(page, backend, s3, enc, SOURCES[src], seconds)
                runs.setdefault(("parts", src, enc), []).append(r)
                progress(f"#   rep {rep + 1} {src:<8}{enc:<20}{r['records'] / r['logS'] / 1e6:.2f} M rec/s logged, "
                         f"{sum(s for _, s in r['parts']) / sum(b for b, _ in r['parts']):.3f} of the bytes sent")
        harness.set_faults(backend, throttle_mbit=mbit)
        for enc in THROTTLED:
            r = _run(page, backend, s3, enc, SOURCES["load"], seconds)
            runs.setdefault(("uplink", "load", enc), []).append(r)
            progress(f"#   rep {rep + 1} {mbit:g} Mbit/s {enc:<20}{r['records'] / r['wholeS'] / 1e6:.2f} M rec/s end to end "
                     f"({r['wholeS']:.1f} s, {r['toDlq']} parts via the DLQ)")
    harness.set_faults(backend)
    out = {}
    for (kind, src, enc), rs in runs.items():
        full = [(b, s) for r in rs for b, s in r["parts"] if b == 5 * 1024 * 1024]  # whole parts only
        out[(kind, src, enc)] = {
            "ratio": median([b / s for b, s in full]),
            "stored_mib_per_part": median([s for _, s in full]) / 2**20,
            "encode_ms_per_part": median([ms for r in rs for ms in r["encodeMs"]]) if ENCODINGS[enc]["codec"] or ENCODINGS[enc]["shuffle"] else 0.0,
            "stall_ms_max": max(r["stallMs"] for r in rs),
            "logged_per_s": median([r["records"] / r["logS"] for r in rs]),
            "end_to_end_per_s": median([r["records"] / r["wholeS"] for r in rs]),
            "whole_s": median([r["wholeS"] for r in rs]),
            "to_dlq": median([r["toDlq"] for r in rs]),
            "parts": len(full),
        }
    return out


def table(res: dict, seconds: float, reps: int, mbit: float) -> str:
    lines = [f"CLOUD part encodings: 2 sims, pace=max, {seconds:g} s runs x {reps}, medians over whole 5 MiB parts "
             f"(default: {DEFAULT})",
             f"{'source':<9}{'encoding':<21}{'ratio':>7}{'MiB sent/part':>15}{'encode ms/part':>16}{'longest hold ms':>17}"
             f"{'M rec/s':>9}"]
    for (kind, src, enc), r in res.items():
        if kind == "parts":
            lines.append(f"{src:<9}{enc:<21}{r['ratio']:>7.2f}{r['stored_mib_per_part']:>15.2f}{r['encode_ms_per_part']:>16.0f}"
                         f"{r['stall_ms_max']:>17.1f}{r['logged_per_s'] / 1e6:>9.2f}")
    lines.append(f"end to end with the gateway throttled to {mbit:g} Mbit/s (load source, start() until the manifest is in the bucket)")
    lines.append(f"{'encoding':<30}{'M rec/s':>9}{'run s':>8}{'parts via DLQ':>15}")
    base = res[("uplink", "load", "raw")]["end_to_end_per_s"]
    for (kind, src, enc), r in res.items():
        if kind == "uplink":
            lines.append(f"{enc:<30}{r['end_to_end_per_s'] / 1e6:>9.2f}{r['whole_s']:>8.1f}{r['to_dlq']:>15g}"
                         f"   x{r['end_to_end_per_s'] / base:.2f} of raw")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mbit", type=float, default=50, help="the throttled uplink")
    args = ap.parse_args()
    with harness.app_page() as (page, _url):
        page.evaluate("window.vpslog.pipeline.ensureSims(2)")
        page.wait_for_selector("#start:not([disabled])", timeout=180_000)
        t = time.monotonic()
        res = measure(page, page.backend, args.seconds, args.reps, args.mbit)
        print(f"# measured in {time.monotonic() - t:.0f} s\n")
    print(table(res, args.seconds, args.reps, args.mbit))


if __name__ == "__main__":
    main()
