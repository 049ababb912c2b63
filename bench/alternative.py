"""vpslog against the alternatives a team writes without it, side by side in one run.

What such a team writes (bench/alternative/, see its README): the model in
Pyodide in a Web Worker with a log of its own, and a storage worker.
Per event: each event a JSON-able object posted by structured clone, stored in
IndexedDB in batched transactions, straight from the sim (variant 1) or relayed
through the main thread (variant 2). Batched: one message per model step, the
step's columns as transferred typed arrays or its JSON lines made in Python,
appended to an OPFS file of JSON lines. vpslog runs the same model, parameters
and seed with 2 sims into OPFS. Two record shapes: the events of a source
(``--source``) and the 6-field telemetry of a car-following model (highway.py,
which vpslog runs as a user's file installed through the page's own path).
Configurations are interleaved, repeated, and reported as medians; ratios are
taken between medians of this run.

    .venv/bin/python bench/alternative.py --seconds 4 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import harness  # noqa: E402
import streampage  # noqa: E402

PAGE_JS = Path(__file__).resolve().parent / "alternative" / "page.js"
HIGHWAY = PAGE_JS.parent / "highway.py"
WORKERS = 2
# Every run but the per-event ones logs a whole model run, the same records in
# each configuration: a real model's cost changes as it runs (traffic: as demand
# builds), so runs cut at a fixed time would not compare like with like.
SOURCES = {
    "load": {"rate": 1_000_000, "vehicles": 20_000, "edges": 4_000, "error_rate": 0.001, "duration_ms": 1000},
    "traffic": {"vehicles": 20_000, "grid": 64, "duration_s": 60},  # 597 K events, ~430 per step
}
# 512 cars per sim: about as many records per step as a traffic step; 614 K records.
TELEMETRY = {"source": "highway", "params": {"vehicles": 512, "steps": 600}, "seed": 1, "stream": "telemetry"}
ALTERNATIVES = ("direct", "relay", "arrays", "json")
# Storage-bound at a few thousand events/s: these log for --seconds, then drain.
TIMED = ("direct", "relay", "idle")
WHOLE_RUN_CAP_S = 300
# Configurations per record shape.
SHAPES = {
    "events": ("vpslog", *ALTERNATIVES, "model"),
    "telemetry": ("vpslog", "arrays", "json", "model"),
}
LABELS = {
    "vpslog": "vpslog: packed records -> OPFS",
    "direct": "variant 1: objects -> worker -> IndexedDB",
    "relay": "variant 2: objects -> main thread -> IndexedDB",
    "arrays": "batched: step's typed arrays -> OPFS JSON lines",
    "json": "batched: step's JSON text -> OPFS JSON lines",
    "model": "the model alone, nothing logged (ceiling)",
    "idle": "no run (reference)",
}

RUN_JS = """async ([pageJs, indexURL, config, source, seconds, workers]) => {
  const alt = await import(pageJs);
  await alt.boot(indexURL, workers);
  if (config === 'vpslog') return alt.runVpslog({ workers, source, durationS: seconds });
  if (config === 'idle') return alt.idle(seconds);
  return alt.runAlternative({ variant: config, source, durationS: seconds });
}"""


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def sources(source: str) -> dict:
    return {"events": {"source": source, "params": SOURCES[source], "seed": 1, "stream": "events"},
            "telemetry": TELEMETRY}


def summary(config: str, rs: list[dict]) -> dict:
    """Medians over one configuration's runs; frame gaps pooled."""
    gaps = [g for r in rs for g in r["gaps"]]
    row = {
        "records": median([r["records"] for r in rs]),
        "records_per_s": median([r["records"] / r["elapsed"] for r in rs]),
        "elapsed_s": median([r["elapsed"] for r in rs]),
        "raf_p50_ms": pct(gaps, .5), "raf_p99_ms": pct(gaps, .99), "raf_max_ms": max(gaps, default=float("nan")),
        "long_tasks": median([r["longTasks"] for r in rs]),
        "long_task_ms": median([r["longTaskMs"] for r in rs]),
    }
    if config in ("idle", "model"):
        return row
    stored = "fileBytes" if config == "vpslog" else "storedBytes"  # vpslog: the stream's .bin
    row["bytes_per_record"] = median([r[stored] / r["records"] for r in rs])
    row["bytes_per_s"] = median([r[stored] / r["elapsed"] for r in rs])
    # Time per record, summed over the sims: waiting for acks or credits; for the
    # alternatives also the model and the logging (objects, columns or JSON made,
    # and posted); and the storage side's (vpslog: the logger handling messages
    # and its timer, which flushes).
    per_record = lambda k: median([r[k] / r["records"] * 1e3 for r in rs])  # noqa: E731
    row["wait_us"] = per_record("waitMs")
    if config == "vpslog":
        row["manifest_bytes"] = median([r["manifestBytes"] for r in rs])
        row["estimate_bytes_per_record"] = median([r["storedBytes"] / r["records"] for r in rs])
    else:
        row.update(model_us=per_record("modelMs"), log_us=median([(r["exportMs"] + r["postMs"]) / r["records"] * 1e3 for r in rs]),
                   records_per_step=median([r["records"] / r["steps"] for r in rs]))
    if rs[0].get("storageMs"):
        row["storage_us"] = median([sum(r["storageMs"].values()) / r["records"] * 1e3 for r in rs])
    return row


def ratios(rows: dict) -> dict:
    """vpslog against the fastest alternative of this shape, and each against the model alone."""
    best = max((c for c in ALTERNATIVES if c in rows), key=lambda c: rows[c]["records_per_s"])
    v, b, model = rows["vpslog"], rows[best], rows["model"]
    return {"best": best, "best_over_model": b["records_per_s"] / model["records_per_s"],
            "records_per_s": v["records_per_s"] / b["records_per_s"], "bytes_per_s": v["bytes_per_s"] / b["bytes_per_s"],
            "bytes_per_record": b["bytes_per_record"] / v["bytes_per_record"],
            "vpslog_over_model": v["records_per_s"] / model["records_per_s"]}


def prepare(page) -> None:
    """The app's sims booted, with highway.py installed in them as a user's file
    (the page's own install path), so vpslog runs the telemetry model the
    alternatives run. ``page`` is at the app."""
    page.evaluate(f"window.vpslog.pipeline.ensureSims({WORKERS})")
    page.wait_for_selector("#start:not([disabled])", timeout=180_000)
    streampage.install(page, HIGHWAY.name, HIGHWAY.read_bytes(), TELEMETRY["source"])


def measure(page, base_url: str, seconds: float = 4, reps: int = 3, source: str = "traffic",
            progress=print) -> dict:
    """Every configuration of every shape and an idle reference, interleaved, ``reps`` times each.

    ``page`` is a Playwright page at the app (``base_url``) in a persistent profile.
    Returns ``{shape: {config: row}, "idle": row, "ratios": {shape: ...}}``: rows of
    medians over repetitions (frame gaps pooled); ratios between them.
    """
    prepare(page)
    page_js, index_url = f"/@fs{PAGE_JS}", base_url + "pyodide/"
    t = time.monotonic()
    page.evaluate("async ([p, i, w]) => (await import(p)).boot(i, w)", [page_js, index_url, WORKERS])
    progress(f"# alternative: {WORKERS} sim workers booted in {time.monotonic() - t:.1f} s")
    srcs = sources(source)
    plan = [(shape, c) for shape, configs in SHAPES.items() for c in configs] + [("idle", "idle")]
    runs: dict[tuple, list[dict]] = {k: [] for k in plan}
    for rep in range(reps):
        for shape, config in plan:
            length = seconds if config in TIMED else WHOLE_RUN_CAP_S
            r = page.evaluate(RUN_JS, [page_js, index_url, config, srcs.get(shape), length, WORKERS])
            runs[shape, config].append(r)
            if r["records"]:
                progress(f"#   rep {rep + 1} {shape} {config}: {r['records'] / r['elapsed'] / 1e3:,.0f} k rec/s, "
                         f"{r.get('fileBytes', r['storedBytes']) / r['records']:.1f} B/rec, {r['longTasks']} long tasks")
    for shape, configs in SHAPES.items():
        counts = {c: sorted({r["records"] for r in runs[shape, c]}) for c in configs if c not in TIMED}
        if len({n for ns in counts.values() for n in ns}) != 1:
            raise AssertionError(f"{shape}: whole model runs logged different numbers of records: {counts}")
    out: dict = {shape: {c: summary(c, runs[shape, c]) for c in configs} for shape, configs in SHAPES.items()}
    out["idle"] = summary("idle", runs["idle", "idle"])
    out["ratios"] = {shape: ratios(out[shape]) for shape in SHAPES}
    return out


def _cell(row, key, width, spec, scale=1.0):
    return f"{row[key] * scale:>{width}{spec}}" if key in row else f"{'-':>{width}}"


def table(results: dict, seconds: float, reps: int, source: str) -> str:
    lines = [f"vpslog vs the alternatives without it: {WORKERS} sims, pace=max, whole model runs (per-event variants "
             f"{seconds:g} s) x {reps}, medians (Chromium, persistent profile); events from '{source}', telemetry from highway.py",
             f"{'':<50}{'':>8}{'':>7}{'':>7}{'':>6}{'rec/':>7}{'sim us/record':>18}{'storage':>8}{'rAF':>6}{'long':>6}",
             f"{'configuration':<50}{'k rec/s':>8}{'MB/s':>7}{'B/rec':>7}{'run s':>6}{'step':>7}"
             f"{'model':>6}{'log':>6}{'wait':>6}{'us/rec':>8}{'p99':>6}{'tasks':>6}"]
    for shape, configs in SHAPES.items():
        lines.append(f"{shape}:")
        for config in configs + (("idle",) if shape == "events" else ()):
            r = results["idle"] if config == "idle" else results[shape][config]
            lines.append(f"  {LABELS[config]:<48}{r['records_per_s'] / 1e3:>8,.0f}{_cell(r, 'bytes_per_s', 7, '.1f', 1e-6)}"
                         f"{_cell(r, 'bytes_per_record', 7, '.1f')}{r['elapsed_s']:>6.1f}{_cell(r, 'records_per_step', 7, ',.0f')}"
                         f"{_cell(r, 'model_us', 6, '.2f')}{_cell(r, 'log_us', 6, '.2f')}{_cell(r, 'wait_us', 6, '.2f')}"
                         f"{_cell(r, 'storage_us', 8, '.2f')}{r['raf_p99_ms']:>6.1f}{r['long_tasks']:>6g}")
    for shape in SHAPES:
        q, v = results["ratios"][shape], results[shape]["vpslog"]
        lines.append(f"{shape}: best alternative '{q['best']}' reaches {q['best_over_model']:.2f} of the model alone; "
                     f"vpslog / best: records/s {q['records_per_s']:.2f}x, bytes/s {q['bytes_per_s']:.2f}x, "
                     f"{q['bytes_per_record']:.1f}x fewer bytes per record; vpslog reaches {q['vpslog_over_model']:.2f} "
                     f"of the model alone")
        lines.append(f"  vpslog {shape}: .bin {v['bytes_per_record']:.2f} B/record, manifest {v['manifest_bytes'] / 1e3:,.0f} kB; "
                     f"storage.estimate() delta {v['estimate_bytes_per_record']:.2f} B/record")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=4, help="length of the per-event variants' runs")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each configuration")
    ap.add_argument("--source", choices=sorted(SOURCES), default="traffic",
                    help="events source: 'traffic' a real model's steps, 'load' a generator that costs almost nothing")
    args = ap.parse_args()

    with harness.app_page() as (page, url):
        page.fill("input[name=workers]", str(WORKERS))
        results = measure(page, url, args.seconds, args.reps, args.source, lambda s: print(s, flush=True))
    print()
    print(table(results, args.seconds, args.reps, args.source))


if __name__ == "__main__":
    main()
