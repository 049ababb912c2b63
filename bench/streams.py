"""Declared streams, side by side in one run (issue 17's goals).

1. Python packing of the 6-field telemetry record (u32 time, u32 vehicle,
   3 x f32, u8: 21 bytes) in real Pyodide (a worker of the bench's Chromium,
   as `bench/pipeline.py` runs it) and in CPython, the same text
   (`python_rates.telemetry_rates`): per record through ``log.telemetry(...)``
   and columnar through ``log.telemetry.extend``, both through the Producer as a
   run does (goals: <= 1 us per record, >= 20 M records/s), and their parts alone.
2. Bytes/s into OPFS of a run logging events + two declared streams
   (bench/stream_load.py: the load generator's events, telemetry and fleet
   records) against an events-only run (the load source) of the same length
   (goal >= 0.9x); the same two into the null sink (the transport ceiling) say
   where a shortfall comes from; examples/vehicle_logger.py (three streams
   logged per record by a real model) at full pace for reference.
3. The page's requestAnimationFrame gaps while those runs log, with the live
   view up, against no run (goal: p99 <= 1.05x).

The cases are interleaved, ``--reps`` times; medians are printed, ratios are
between medians of this run, and each figure carries the load average seen
while it was measured (the machine is shared). Chromium has a persistent
profile; every run is checked: per stream, records the sims' Producers
released == records in the manifest == the OPFS file's size, none dropped.

    .venv/bin/python bench/streams.py [--seconds 4] [--reps 3] [--pack-reps 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import frames  # noqa: E402
import pipeline  # noqa: E402
import python_rates  # noqa: E402
import streampage  # noqa: E402

LOAD = {"rate": 1_000_000, "vehicles": 20_000}
CASES = {
    "events": ("events only (load source)", "opfs", {"source": "load", "params": {**LOAD, "edges": 4000}}),
    "streams": ("events + telemetry + fleet (stream_load)", "opfs",
                {"source": "stream_load:StreamLoad", "params": LOAD}),
    "events-null": ("events only, null sink", "null", {"source": "load", "params": {**LOAD, "edges": 4000}}),
    "streams-null": ("events + 2 streams, null sink", "null", {"source": "stream_load:StreamLoad", "params": LOAD}),
    "vehicles": ("vehicle_logger, 3 streams per record", "opfs",
                 {"source": "vehicle_logger:VehicleLogger", "params": {"vehicles": 20, "minutes": 1440}}),
    "idle": ("no run (the view idle)", None, None),
    "spin": ("reference: no run, 2 workers spinning", "spin", None),
}

# One case: rAF gaps over 80 % of the run (from the moment the run is on) and the
# main thread's long tasks meanwhile; and the run itself. "spin": no run, two
# plain workers keeping both cores busy as two sims at full pace do (the machine's reference).
CASE_JS = """async ([cfg, seconds]) => {
  const raf = RAF;
  const longTasks = [];
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push(e.duration); });
  obs.observe({ type: 'longtask' });
  let run = null, spinners = [];
  if (cfg === 'spin') {
    const src = 'onmessage = (e) => { const end = performance.now() + e.data; while (performance.now() < end); }';
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    spinners = [0, 1].map(() => new Worker(url));
    spinners.forEach((w) => w.postMessage(seconds * 1000));
  } else if (cfg) {
    const pl = window.vpslog.pipeline;
    run = (RUN)(cfg);
    while (!pl.run) await new Promise((r) => setTimeout(r, 5));
  }
  const gaps = await raf(seconds * 0.8);
  obs.disconnect();
  spinners.forEach((w) => w.terminate());
  return { gaps, longTasks, run: run && await run };
}""".replace("RAF", frames.RAF_JS).replace("(RUN)", f"({streampage.RUN_JS})")


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pack_rates(page, url: str, reps: int) -> dict:
    """Telemetry packing rates, ``reps`` times in a fresh Pyodide worker and in CPython, interleaved."""
    # one text: the bench source (as __main__, the Producer finds it there) and the rates
    code = f"{(HERE / 'stream_load.py').read_text()}\n{Path(python_rates.__file__).read_text()}\nstream_rates('__main__:StreamLoad')"
    out = {"Pyodide": [], "CPython": []}
    for rep in range(reps):
        out["Pyodide"].append((page.evaluate(pipeline.PYODIDE_PACK_JS, [url + "pyodide/", code]), streampage.load()))
        out["CPython"].append((json.loads(python_rates.stream_rates("stream_load:StreamLoad")), streampage.load()))
        print(f"#   packing rep {rep + 1}: Pyodide per record "
              f"{1e6 / out['Pyodide'][-1][0]['telemetry_per_event_records_per_s']:.2f} us, columnar "
              f"{out['Pyodide'][-1][0]['telemetry_columnar_records_per_s'] / 1e6:.1f} M/s (load {streampage.load()})",
              flush=True)
    return out


def pack_table(rates: dict) -> str:
    rows = (("telemetry_per_event", "log.telemetry(...) per record, through the Producer", "us"),
            ("telemetry_call_alone", "  the call alone (packs into the stream's bytes)", "us"),
            ("telemetry_columnar", "log.telemetry.extend 4096/step, through the Producer", "M/s"),
            ("telemetry_extend_alone", "  extend alone (checks + interleave)", "M/s"),
            ("telemetry_interleave", "  interleave alone (21 byte lanes)", "M/s"))
    out = ["Telemetry record (21 B) packing, medians of the reps (each a median of 5-7 timings) [min-max]:",
           f"  {'':<56}{'Pyodide (Chromium worker)':>28}{'CPython':>24}{'rate Pyodide/CPython':>22}"]
    for key, label, unit in rows:
        cells, meds = [], []
        for name in ("Pyodide", "CPython"):
            xs = [r[f"{key}_records_per_s"] for r, _ in rates[name]]
            f = (lambda x: 1e6 / x) if unit == "us" else (lambda x: x / 1e6)
            vals = sorted(f(x) for x in xs)
            meds.append(median(xs))
            cells.append(f"{f(median(xs)):.2f} {unit} [{vals[0]:.2f}-{vals[-1]:.2f}]")
        out.append(f"  {label:<56}{cells[0]:>28}{cells[1]:>24}{meds[0] / meds[1]:>22.2f}")
    for key, label in (("load", "load source (events only)"), ("stream_load", "stream_load (events + 2 streams)")):
        cells = [f"{median([r[f'{key}_producer_bytes_per_s'] for r, _ in rates[n]]) / 1e6:.1f} MB/s" for n in rates]
        out.append(f"  {'Producer alone, produce(16), ' + label:<56}{cells[0]:>28}{cells[1]:>24}")
    py = [r for r, _ in rates["Pyodide"]]
    per = 1e6 / median([r["telemetry_per_event_records_per_s"] for r in py])
    col = median([r["telemetry_columnar_records_per_s"] for r in py]) / 1e6
    out.append(f"  goals in Pyodide: per record {per:.2f} us (goal <= 1 us: {'met' if per <= 1 else 'NOT met'}); columnar "
               f"{col:.1f} M/s (goal >= 20 M/s: {'met' if col >= 20 else 'NOT met'}); load average during the reps: "
               + ", ".join(load for _, load in rates["Pyodide"]))
    return "\n".join(out)


def run_cases(page, seconds: float, reps: int) -> dict:
    res = {k: [] for k in CASES}
    for rep in range(reps):
        for key, (_, mode, source) in CASES.items():
            cfg = source and {"workers": 2, "mode": mode, "pace": "max", "durationS": seconds, "source": {**source, "seed": 1}}
            cfg = cfg or mode
            load = streampage.load()
            r = page.evaluate(CASE_JS, [cfg, seconds])
            r["load"] = load
            if r["run"]:
                r["accounting"] = streampage.accounting(r["run"])
                # a run whose close failed is reported, not measured (its elapsed time is the close's timeout)
                assert all(a["ok"] for a in r["accounting"]), r["accounting"]
                if r["run"]["status"] != "closed":
                    print(f"#   {key}: run {r['run']['runId']} {r['run']['status']} after {r['run']['elapsed']:.1f} s:"
                          f" {r['run']['errors']}", flush=True)
            res[key].append(r)
        print(f"#   rep {rep + 1}: " + ", ".join(f"{k} {mb_per_s(v[-1]):.1f} MB/s" for k, v in res.items() if v[-1]["run"])
              + f" (load {streampage.load()})", flush=True)
    return res


def closed(rs: list[dict]) -> list[dict]:
    """The runs that closed: a failed close's elapsed time is the close's own timeout."""
    return [r for r in rs if r["run"]["status"] == "closed"]


def mb_per_s(r: dict) -> float:
    return sum(s["bytes"] for s in r["run"]["streams"]) / r["run"]["elapsed"] / 1e6


def cases_table(res: dict, seconds: float, reps: int) -> str:
    out = [f"Runs: 2 sims, pace max, {seconds:g} s x {reps} (interleaved), Chromium persistent profile, live view up;"
           " medians over the runs that closed (closed: of all). MB/s = bytes of every stream stored / (start() to"
           " closed); rAF over 80 % of each run;"
           " long tasks: count, total, all reps",
           f"  {'case':<44}{'MB/s':>7}{'M rec/s':>9}{'sims wait %':>12}{'closed':>8}{'rAF p50':>8}{'p99':>7}{'max':>7}"
           f"{'p99/idle':>9}{'long tasks':>11}  load (1-min, per rep)"]
    p99 = {k: median([frames.pct(r["gaps"], .99) for r in rs]) for k, rs in res.items()}
    for key, (label, _, _) in CASES.items():
        rs = res[key]
        gaps = [g for r in rs for g in r["gaps"]]
        loads = " ".join(r["load"].split("/")[0] for r in rs)
        if rs[0]["run"]:
            ok = closed(rs)
            mbs = median([mb_per_s(r) for r in ok])
            recs = median([sum(s["records"] for s in r["run"]["streams"]) / r["run"]["elapsed"] / 1e6 for r in ok])
            wait = median([100 * sum(r["run"]["simWaitMs"]) / len(r["run"]["simWaitMs"]) / (r["run"]["elapsed"] * 1e3)
                           for r in ok])
            cells = f"{mbs:>7.1f}{recs:>9.2f}{wait:>12.0f}{f'{len(ok)}/{len(rs)}':>8}"
        else:
            cells = f"{'':>7}{'':>9}{'':>12}{'':>8}"
        long = [d for r in rs for d in r["longTasks"]]
        out.append(f"  {label:<44}{cells}{frames.pct(gaps, .5):>8.1f}{p99[key]:>7.1f}{max(gaps):>7.1f}"
                   f"{p99[key] / p99['idle']:>9.2f}{f'{len(long)}, {sum(long):.0f} ms':>11}  {loads}")
    mb = {k: median([mb_per_s(r) for r in closed(rs)]) for k, rs in res.items() if rs[0]["run"]}
    ratio = mb["streams"] / mb["events"]
    out.append(f"  OPFS bytes/s, events + 2 streams / events only: {ratio:.2f} (goal >= 0.9: {'met' if ratio >= .9 else 'NOT met'});"
               f" null sink: {mb['streams-null'] / mb['events-null']:.2f}; OPFS / null sink: events"
               f" {mb['events'] / mb['events-null']:.2f}, events + 2 streams {mb['streams'] / mb['streams-null']:.2f}")
    worst = max(("streams", "vehicles"), key=lambda k: p99[k])
    out.append(f"  rAF p99 (median of the reps' p99) with streams logging / no run: stream_load {p99['streams'] / p99['idle']:.2f},"
               f" vehicle_logger {p99['vehicles'] / p99['idle']:.2f}, events only {p99['events'] / p99['idle']:.2f}"
               f" (goal <= 1.05: {'met' if p99[worst] / p99['idle'] <= 1.05 else 'NOT met'}); reference, 2 cores kept busy"
               f" without logging: {p99['spin'] / p99['idle']:.2f}")
    per = {}
    for r in closed(res["streams"]):
        for s in r["run"]["streams"]:
            per.setdefault(s["name"], []).append(s["bytes"] / r["run"]["elapsed"] / 1e6)
    out.append("  stream_load's share, MB/s: " + ", ".join(f"{k} {median(v):.1f}" for k, v in per.items())
               + "; every run: per stream produced == stored == OPFS file, dropped 0")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4, help="length of each run")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each run case")
    ap.add_argument("--pack-reps", type=int, default=3, help="repetitions of the packing measurement")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    file, data = streampage.wheel("vpslog_stream_bench", [HERE / "stream_load.py",
                                                          streampage.harness.REPO / "examples" / "vehicle_logger.py"])
    with sync_playwright() as p, streampage.app(p) as (page, _profile):
        url = page.evaluate("location.origin") + "/"
        rates = pack_rates(page, url, args.pack_reps)
        streampage.install(page, file, data, "stream_load:StreamLoad")
        res = run_cases(page, args.seconds, args.reps)
    print()
    print(pack_table(rates))
    print()
    print(cases_table(res, args.seconds, args.reps))


if __name__ == "__main__":
    main()
