"""CLOUD part encodings side by side (the CLOUD section of `npm run bench`).

For each encoding of part_encoding.json: the bytes uploaded per 5 MiB part of
records and the time to encode one (shuffle + native CompressionStream, in
slices), with the load generator (random ids: the hard case) and a traffic
simulation run to its end (what the issue's ratios were measured on), through
the verifying gateway to moto. Encode time is given twice: in the logger
during the run (wall time, sharing the 2 cores with 2 busy sims) and alone, a
real part of each source encoded in an idle worker (CPU time). "Logger held"
is how late the logger's 50 ms timer fired at worst in the run: how long its
message handling was held up, whatever the cause. Then end-to-end CLOUD records/s with the
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

PART = 5 * 1024 * 1024
# source, and whether it runs for the bench's seconds (load) or to its end (traffic: 676 K records)
SOURCES = {
    "load": ({"source": "load", "params": {"rate": 1_000_000, "vehicles": 20_000, "edges": 4_000, "error_rate": 0.001}}, True),
    "traffic": ({"source": "traffic", "params": {"vehicles": 40_000, "grid": 24}, "seed": 5}, False),
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
           heldMs: s.loggerHeldMs ?? 0, toDlq: s.partsToDlq ?? 0, encodeError: s.encodeError ?? null };
}"""

# One real part encoded alone, in a fresh worker of the page (nothing else runs there): ms per encoding.
ALONE_JS = """async ([url, b64, names, reps]) => {
  const src = `import { encodePart } from ${JSON.stringify(url)};
    onmessage = async ({ data: { bytes, names, reps } }) => {
      const out = {};
      for (const name of names) {
        out[name] = [];
        for (let i = 0; i < reps; i++) {
          const t = performance.now();
          await encodePart(bytes, name);
          out[name].push(performance.now() - t);
        }
      }
      postMessage(out);
    };`;
  const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const out = await new Promise((resolve, reject) => {
    w.onmessage = (e) => resolve(e.data);
    w.onerror = (e) => reject(new Error(e.message));
    w.postMessage({ bytes, names, reps });
  });
  w.terminate();
  return out;
}"""


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def _run(page, backend, s3, encoding, src, seconds):
    source, timed = SOURCES[src]
    r = page.evaluate(RUN_JS, [encoding, source, seconds if timed else 0])
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
                r = _run(page, backend, s3, enc, src, seconds)
                runs.setdefault(("parts", src, enc), []).append(r)
                progress(f"#   rep {rep + 1} {src:<8}{enc:<20}{r['records'] / r['logS'] / 1e6:.2f} M rec/s logged, "
                         f"{sum(s for _, s in r['parts']) / sum(b for b, _ in r['parts']):.3f} of the bytes sent")
        harness.set_faults(backend, throttle_mbit=mbit)
        for enc in THROTTLED:
            r = _run(page, backend, s3, enc, "load", seconds)
            runs.setdefault(("uplink", "load", enc), []).append(r)
            progress(f"#   rep {rep + 1} {mbit:g} Mbit/s {enc:<20}{r['records'] / r['wholeS'] / 1e6:.2f} M rec/s end to end "
                     f"({r['wholeS']:.1f} s, {r['toDlq']} parts via the DLQ)")
    harness.set_faults(backend)
    out = {}
    for (kind, src, enc), rs in runs.items():
        parts = [p for r in rs for p in r["parts"]]
        # the encoder takes parts in order: encodeMs[i] is parts[i]'s, scaled to a whole part (parts >= 1 MiB)
        ms = [t * PART / b for r in rs for t, (b, _) in zip(r["encodeMs"], r["parts"]) if b >= 1 << 20]
        out[(kind, src, enc)] = {
            "ratio": sum(b for b, _ in parts) / sum(s for _, s in parts),
            "encode_ms_per_part": median(ms) if ms else 0.0,
            "held_ms": median([r["heldMs"] for r in rs]),
            "held_ms_max": max(r["heldMs"] for r in rs),
            "logged_per_s": median([r["records"] / r["logS"] for r in rs]),
            "end_to_end_per_s": median([r["records"] / r["wholeS"] for r in rs]),
            "whole_s": median([r["wholeS"] for r in rs]),
            "to_dlq": median([r["toDlq"] for r in rs]),
        }
    out["alone"] = _alone(page, s3, backend, {src: runs[("parts", src, "raw")][0]["runId"] for src in SOURCES})
    return out


def _alone(page, s3, backend, run_ids: dict) -> dict:
    """Each source's first part (5 MiB of its records, read from the bucket) encoded alone."""
    import base64

    from vpslog.store import read_manifest, read_part

    url = page.evaluate("location.origin") + f"/@fs{harness.REPO / 'workers/encoding.js'}"
    out = {}
    for src, run_id in run_ids.items():
        part = read_manifest(s3, backend["bucket"], run_id)["parts"][0]
        data = read_part(s3, backend["bucket"], part)
        ms = page.evaluate(ALONE_JS, [url, base64.b64encode(data).decode(), list(ENCODINGS), 5])
        out[src] = {enc: median(v[1:]) * PART / len(data) for enc, v in ms.items()}  # the first warms up
    return out


def table(res: dict, seconds: float, reps: int, mbit: float) -> str:
    lines = [f"CLOUD part encodings: 2 sims, pace=max, load {seconds:g} s runs, traffic to its end, x {reps}, medians "
             f"(default: {DEFAULT}); per part = per 5 MiB of records",
             f"{'source':<9}{'encoding':<21}{'ratio':>6}{'MiB sent/part':>14}{'encode ms/part':>15}{'alone ms':>10}"
             f"{'logger held ms':>16}{'M rec/s':>9}"]
    for (kind, src, enc), r in ((k, v) for k, v in res.items() if k != "alone"):
        if kind == "parts":
            lines.append(f"{src:<9}{enc:<21}{r['ratio']:>6.2f}{5 / r['ratio']:>14.2f}{r['encode_ms_per_part']:>15.0f}"
                         f"{res['alone'][src][enc]:>10.0f}{r['held_ms']:>9.0f} (max {r['held_ms_max']:>3.0f})"
                         f"{r['logged_per_s'] / 1e6:>9.2f}")
    lines.append(f"end to end with the gateway throttled to {mbit:g} Mbit/s (load source, start() until the manifest is in the bucket)")
    lines.append(f"{'encoding':<30}{'M rec/s':>9}{'run s':>8}{'parts via DLQ':>15}")
    base = res[("uplink", "load", "raw")]["end_to_end_per_s"]
    for (kind, src, enc), r in ((k, v) for k, v in res.items() if k != "alone"):
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
