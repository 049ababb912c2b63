"""vpslog benchmark (`npm run bench`): figures measured side by side in one run.

Headless Debian Chromium with a *persistent* profile (OPFS in an incognito
context is ~25x slower and would measure the wrong thing). Every configuration
is repeated and interleaved with the others; medians are reported, and ratios
are taken between medians of the same run. Machines here are noisy: compare
ratios, not absolute numbers, across runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import harness  # noqa: E402

RUN_JS = """async ([workers, mode, seconds]) => {
  const pl = window.vpslog.pipeline;
  const peak = { bytesInMemory: 0, partsInFlight: 0 };
  const watch = (e) => { for (const k in peak) peak[k] = Math.max(peak[k], e.detail[k] ?? 0); };
  pl.addEventListener('stats', watch);
  const done = new Promise((resolve) => pl.addEventListener('run', function on(e) {
    if (e.detail.state === 'closed') { pl.removeEventListener('run', on); resolve(e.detail); }
  }));
  const t0 = performance.now();
  await pl.start({ workers, mode, pace: 'max', durationS: seconds,
                   source: { source: 'load', rate: 1000000, vehicles: 20000, edges: 4000, error_rate: 0.001 } });
  const tStarted = performance.now();
  const d = await done;
  const elapsed = (performance.now() - tStarted) / 1000;
  pl.removeEventListener('stats', watch);
  if (mode === 'opfs') await pl.deleteRun(d.runId);  // keep the profile small
  return { records: d.manifest.records, produced: d.produced, elapsed, status: d.manifest.status, published: d.published,
           toDlq: window.vpslog.stats.partsToDlq ?? 0, ...peak };
}"""

RAF_JS = """(seconds) => new Promise((resolve) => {
  const gaps = []; let last = performance.now(); const end = last + seconds * 1000;
  const frame = (t) => { gaps.push(t - last); last = t; if (t < end) requestAnimationFrame(frame); else resolve(gaps); };
  requestAnimationFrame((t) => { last = t; requestAnimationFrame(frame); });
})"""

# Python packing measured inside Pyodide in a worker of the same browser.
PYODIDE_PACK_JS = """async ([indexURL, code]) => {
  const src = `
    const { loadPyodide } = await import(${JSON.stringify(indexURL + 'pyodide.mjs')});
    const py = await loadPyodide({ indexURL: ${JSON.stringify(indexURL)} });
    await py.loadPackage('vpslog');
    self.onmessage = (e) => {
      try { postMessage(py.runPython(e.data)); } catch (err) { postMessage(JSON.stringify({ error: String(err) })); }
    };
    postMessage('ready');`;
  const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
  await new Promise((r) => { w.onmessage = r; });
  const out = await new Promise((r) => { w.onmessage = (e) => r(e.data); w.postMessage(code); });
  w.terminate();
  const result = JSON.parse(out);
  if (result.error) throw new Error(result.error);
  return result;
}"""

PACK_CODE = """
import json, time
from vpslog.packer import pack_columns
from vpslog.bridge import make_producer
from vpslog.loadgen import LoadConfig, SyntheticLoad

def best_rate(fn, records, reps=7):
    rates = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); rates.append(records / (time.perf_counter() - t))
    return sorted(rates)[len(rates) // 2]

cols = SyntheticLoad(LoadConfig(rate=4_090_000)).next_batch(409_000)
n = len(cols[0])
pack = best_rate(lambda: pack_columns(*cols), n)

producer = make_producer(json.dumps({"source": "load", "rate": 1_000_000}))  # as the sim worker runs it

def produce():
    for _ in range(160):
        producer.produce(16)
produce_rate = best_rate(produce, 160 * 16 * 409)

from vpslog.traffic import TrafficConfig, TrafficSim
def traffic():
    sim = TrafficSim(TrafficConfig(vehicles=20_000), 0, 2)  # one worker's part of the default run
    t = time.perf_counter()
    while sim.next_batch(6544) is not None:
        pass
    return sim.stats["records"] / (time.perf_counter() - t)
traffic_rate = sorted(traffic() for _ in range(3))[1]
json.dumps({"pack_records_per_s": pack, "produce_records_per_s": produce_rate, "traffic_records_per_s": traffic_rate})
"""


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=4, help="length of each logging run")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each configuration")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    results: dict[tuple[int, str], list[dict]] = {}
    port = harness.free_port()
    with harness.backend(f"http://127.0.0.1:{port}") as api, \
            harness.dev_server(port, api["api"].removesuffix("/api")) as url, \
            sync_playwright() as p, harness.persistent_context(p) as ctx:
        guard = harness.OffHostGuard(ctx)
        page = ctx.new_page()
        page.goto(url)
        t = time.monotonic()
        page.fill("input[name=workers]", "2")
        page.evaluate("window.vpslog.pipeline.ensureSims(2)")
        page.wait_for_selector("#start:not([disabled])", timeout=120_000)
        print(f"# 2 sim workers booted Pyodide in {time.monotonic() - t:.1f} s (in parallel)", flush=True)

        pyodide = page.evaluate(PYODIDE_PACK_JS, [url + "pyodide/", PACK_CODE])
        scope = {}
        exec(PACK_CODE.rsplit("\n", 2)[0], scope)
        cpython = json.loads(eval(PACK_CODE.strip().rsplit("\n", 1)[1], scope))

        raf_idle, raf_busy = [], []
        configs = [(w, m) for w in (1, 2) for m in ("opfs", "null")] + [(2, "cloud")]
        for rep in range(args.reps):
            for w, m in configs:
                if (w, m) == (2, "opfs"):
                    # measure the page's frame gaps while the heaviest configuration runs
                    handle = page.evaluate_handle(f"() => ({RAF_JS})({args.seconds * 0.8})")
                    r = page.evaluate(RUN_JS, [w, m, args.seconds])
                    raf_busy += handle.json_value()
                else:
                    r = page.evaluate(RUN_JS, [w, m, args.seconds])
                assert r["status"] == "closed" and r["records"] == r["produced"], r
                results.setdefault((w, m), []).append(r)
                print(f"#   rep {rep + 1} sims={w} sink={m}: {r['records'] / r['elapsed'] / 1e6:.2f} M rec/s", flush=True)
            raf_idle += page.evaluate(RAF_JS, args.seconds * 0.8)
        assert not guard.off_host, guard.off_host

    print()
    print(f"vpslog bench: Chromium persistent profile, pace=max, {args.seconds:g} s runs x {args.reps}, medians")
    print(f"{'configuration':<46}{'M records/s':>12}{'MB/s':>9}")
    rate = {}
    for (w, m), rs in results.items():
        rate[(w, m)] = median([r["records"] / r["elapsed"] for r in rs])
        label = f"{w} sim worker{'s' if w > 1 else ''}, " + {
            "opfs": "OPFS sink", "null": "null sink (transport ceiling)", "cloud": "CLOUD sink (local S3)"}[m]
        print(f"{label:<46}{rate[(w, m)] / 1e6:>12.2f}{rate[(w, m)] * 10 / 1e6:>9.1f}")
    cloud = results[(2, "cloud")]
    print(f"CLOUD: 5 MiB parts through the verifying gateway to moto; peak parts in flight "
          f"{max(r['partsInFlight'] for r in cloud)}, peak bytes held by the logger "
          f"{max(r['bytesInMemory'] for r in cloud) / 2**20:.1f} MiB, parts sent to the DLQ {sum(r['toDlq'] for r in cloud)}, "
          f"manifest {'/'.join(sorted({r['published'] for r in cloud}))}")
    print()
    print(f"OPFS / ceiling: 1 sim {rate[(1, 'opfs')] / rate[(1, 'null')]:.2f}, 2 sims {rate[(2, 'opfs')] / rate[(2, 'null')]:.2f}")
    print(f"2 sims / 1 sim: OPFS {rate[(2, 'opfs')] / rate[(1, 'opfs')]:.2f}, ceiling {rate[(2, 'null')] / rate[(1, 'null')]:.2f}")
    print()
    print("Python packing (records/s, median of 7)      Pyodide (Chromium worker)   CPython   ratio")
    for key, label in (("pack_records_per_s", "pack_columns, 409k records"),
                       ("produce_records_per_s", "load generator + pack + batch"),
                       ("traffic_records_per_s", "traffic simulation, 1 worker (records/s)")):
        print(f"  {label:<43}{pyodide[key] / 1e6:>8.2f} M{cpython[key] / 1e6:>12.2f} M{pyodide[key] / cpython[key]:>8.2f}")
    print()
    print("main thread requestAnimationFrame gaps (ms)    p50     p99     max")
    for label, g in (("idle (workers booted, not logging)", raf_idle), ("logging, 2 sims -> OPFS, pace=max", raf_busy)):
        print(f"  {label:<43}{pct(g, .5):>6.1f}{pct(g, .99):>8.1f}{max(g):>8.1f}")
    print(f"  p99 ratio logging/idle: {pct(raf_busy, .99) / pct(raf_idle, .99):.2f}")


if __name__ == "__main__":
    main()
