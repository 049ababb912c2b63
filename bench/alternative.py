"""The obvious alternative to vpslog, measured side by side with it in one run.

What a team without vpslog writes (bench/alternative/, see its README): the
same vpslog source in Pyodide in a Web Worker, each event a JSON-able object
posted by structured clone, stored in IndexedDB in batched transactions;
variant 1 posts straight to the storage worker, variant 2 relays every event
through the main thread. vpslog runs the same source, parameters and seed
with 2 sims into OPFS. Configurations are interleaved, repeated, and reported
as medians; ratios are taken between medians of this run.

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

PAGE_JS = Path(__file__).resolve().parent / "alternative" / "page.js"
WORKERS = 2
SOURCES = {
    "load": {"rate": 1_000_000, "vehicles": 20_000, "edges": 4_000, "error_rate": 0.001},
    "traffic": {},
}
CONFIGS = ("vpslog", "direct", "relay", "idle")
LABELS = {
    "vpslog": "vpslog: 10-byte records -> OPFS",
    "direct": "variant 1: objects -> worker -> IndexedDB",
    "relay": "variant 2: objects -> main thread -> IndexedDB",
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


def measure(page, base_url: str, seconds: float = 4, reps: int = 3, source: str = "load",
            progress=print) -> dict:
    """Run vpslog, variant 1, variant 2 and an idle reference, interleaved, ``reps`` times each.

    ``page`` is a Playwright page at the app (``base_url``) in a persistent profile.
    Returns ``{config: {records_per_s, bytes_per_record, raf_p50/p99/max_ms,
    long_tasks, long_task_ms, ...}}`` (medians over repetitions; frame gaps pooled)
    plus ``"ratios"`` of vpslog over variant 1.
    """
    page.evaluate(f"window.vpslog.pipeline.ensureSims({WORKERS})")
    page.wait_for_selector("#start:not([disabled])", timeout=180_000)
    src = {"source": source, "params": SOURCES[source], "seed": 1}
    page_js, index_url = f"/@fs{PAGE_JS}", base_url + "pyodide/"
    t = time.monotonic()
    page.evaluate("async ([p, i, w]) => (await import(p)).boot(i, w)", [page_js, index_url, WORKERS])
    progress(f"# alternative: {WORKERS} sim workers booted in {time.monotonic() - t:.1f} s")
    runs: dict[str, list[dict]] = {c: [] for c in CONFIGS}
    for rep in range(reps):
        for config in CONFIGS:
            r = page.evaluate(RUN_JS, [page_js, index_url, config, src, seconds, WORKERS])
            runs[config].append(r)
            if r["records"]:
                progress(f"#   rep {rep + 1} {config}: {r['records'] / r['elapsed'] / 1e3:,.0f} k rec/s, "
                         f"{r['storedBytes'] / r['records']:.1f} B/rec, {r['longTasks']} long tasks")
    out = {}
    for config, rs in runs.items():
        gaps = [g for r in rs for g in r["gaps"]]
        row = {
            "records": median([r["records"] for r in rs]),
            "records_per_s": median([r["records"] / r["elapsed"] for r in rs]),
            "elapsed_s": median([r["elapsed"] for r in rs]),
            "raf_p50_ms": pct(gaps, .5), "raf_p99_ms": pct(gaps, .99), "raf_max_ms": max(gaps, default=float("nan")),
            "long_tasks": median([r["longTasks"] for r in rs]),
            "long_task_ms": median([r["longTaskMs"] for r in rs]),
        }
        if config != "idle":
            row["bytes_per_record"] = median([r["storedBytes"] / r["records"] for r in rs])
        if config == "vpslog":
            row["file_bytes_per_record"] = median([r["fileBytes"] / r["records"] for r in rs])
        if config in ("direct", "relay"):
            # Where a sim's time goes: the model and its objects, vs posting them.
            row["python_share"] = median([r["pythonMs"] / (r["pythonMs"] + r["postMs"]) for r in rs])
            # What one sim reaches while it is not waiting for acks: the ceiling without storage.
            row["sim_events_per_busy_s"] = median([r["records"] / (r["pythonMs"] + r["postMs"]) * 1e3 for r in rs])
            row["events_per_transaction"] = median([r["records"] / r["transactions"] for r in rs])
        out[config] = row
    v, d = out["vpslog"], out["direct"]
    out["ratios"] = {
        "records_per_s_vpslog_over_variant1": v["records_per_s"] / d["records_per_s"],
        "bytes_variant1_over_vpslog": d["bytes_per_record"] / v["bytes_per_record"],
        "raf_p99_vpslog_over_idle": v["raf_p99_ms"] / out["idle"]["raf_p99_ms"],
    }
    return out


def table(results: dict, seconds: float, reps: int, source: str) -> str:
    lines = [f"vpslog vs the obvious alternative: source '{source}', {WORKERS} sims, pace=max, "
             f"{seconds:g} s runs x {reps}, medians (Chromium, persistent profile)",
             f"{'configuration':<48}{'k rec/s':>9}{'B/rec':>8}{'run s':>7}{'rAF p50':>9}{'p99':>7}{'max':>7}"
             f"{'long tasks':>12}{'ms':>7}"]
    for config in CONFIGS:
        r = results[config]
        rate = f"{r['records_per_s'] / 1e3:>9,.0f}" if r["records"] else f"{'-':>9}"
        size = f"{r['bytes_per_record']:>8.1f}" if "bytes_per_record" in r else f"{'-':>8}"
        lines.append(f"{LABELS[config]:<48}{rate}{size}{r['elapsed_s']:>7.1f}{r['raf_p50_ms']:>9.1f}{r['raf_p99_ms']:>7.1f}"
                     f"{r['raf_max_ms']:>7.1f}{r['long_tasks']:>12g}{r['long_task_ms']:>7.0f}")
    v, q = results["vpslog"], results["ratios"]
    lines += [
        f"vpslog files: {v['file_bytes_per_record']:.2f} B/record (.bin + manifest); "
        f"storage.estimate() delta {v['bytes_per_record']:.2f} B/record",
        f"records/s vpslog / variant 1: {q['records_per_s_vpslog_over_variant1']:.1f}x (goal >= 20x); "
        f"bytes variant 1 / vpslog: {q['bytes_variant1_over_vpslog']:.1f}x (goal >= 5x); "
        f"rAF p99 vpslog / idle: {q['raf_p99_vpslog_over_idle']:.2f}",
    ]
    for config in ("direct", "relay"):
        r = results[config]
        lines.append(f"{LABELS[config].split(':')[0]}: sim time in Python (model + objects) "
                     f"{r['python_share']:.0%}, posting {1 - r['python_share']:.0%}, "
                     f"{r['sim_events_per_busy_s'] / 1e3:,.0f} k events/s per sim while not waiting; "
                     f"{r['events_per_transaction']:,.0f} events per transaction")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=4, help="length of each logging run")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each configuration")
    ap.add_argument("--source", choices=sorted(SOURCES), default="load", help="vpslog event source")
    args = ap.parse_args()

    with harness.app_page() as (page, url):
        page.fill("input[name=workers]", str(WORKERS))
        results = measure(page, url, args.seconds, args.reps, args.source, lambda s: print(s, flush=True))
    print()
    print(table(results, args.seconds, args.reps, args.source))


if __name__ == "__main__":
    main()
