"""A long real-time run with three declared streams: is memory flat, and is every record stored?

examples/vehicle_logger.py (telemetry per record, fleet receptions per record,
local estimates columnar), installed in the page as a user's file, 2 sims at
pace realtime into OPFS, with the page's live view up, for ``--minutes`` of
simulated (= wall) time. Every ``--every`` seconds it samples:

- the resident (RSS) and unique (USS) memory of the renderer process, which
  holds the page and all its dedicated workers (logger, sims with their
  Pyodide heaps, map), and the RSS of the whole browser process tree (psutil);
- the JS heap of each context kind (page, logger, sims, map) from Chromium's
  ``performance.measureUserAgentSpecificMemory()`` (the page is cross-origin
  isolated); Pyodide's wasm heap is not in it, only in the process figures;
- the logger's per-stream counts and bytes held.

At the end: memory at start, middle and end, the slope (least squares, MB per
10 min) over the whole run and over its second half, and per stream the
records the sims' Producers released against the manifest's, the OPFS file's
size and the dropped count.

    .venv/bin/python bench/streams_soak.py --minutes 30 [--vehicles 20] [--every 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import streampage  # noqa: E402

MODEL = streampage.harness.REPO / "examples" / "vehicle_logger.py"
STATS_JS = """() => { const s = window.vpslog.stats ?? {};
  return { state: s.state, streams: s.streams ?? [], dropped: s.dropped ?? 0, bytesInMemory: s.bytesInMemory ?? 0,
           buffersInFlight: s.buffersInFlight ?? 0 }; }"""


def sample(page, profile: str, t0: float) -> dict:
    s = {"min": (time.monotonic() - t0) / 60, "load": streampage.load(), **streampage.process_memory(profile)}
    try:
        s["js"] = streampage.ua_memory(page)
    except Exception as e:  # a Chromium without it: the process figures still stand
        s["js"] = {"error": str(e)[:80]}
    s["logger"] = page.evaluate(STATS_JS)
    return s


def slope(samples: list[dict], key) -> float:
    """Least-squares slope of ``key(sample)`` against minutes, in MB per 10 minutes."""
    xs, ys = [s["min"] for s in samples], [key(s) for s in samples]
    return 10 * statistics.linear_regression(xs, ys).slope if len(xs) > 1 else float("nan")


SERIES = {"renderer RSS": lambda s: s["renderer_rss"], "renderer USS": lambda s: s["renderer_uss"],
          "browser tree RSS": lambda s: s["tree_rss"],
          **{f"JS heap, {k}": (lambda k: lambda s: s["js"].get(k, float("nan")))(k) for k in ("page", "logger", "sim", "map")}}


def report(samples: list[dict], result: dict, args) -> str:
    mid = samples[len(samples) // 2]
    half = [s for s in samples if s["min"] >= samples[-1]["min"] / 2]
    out = [f"Soak: {MODEL.name}, 2 sims x {args.vehicles} vehicles, pace realtime, OPFS, live view up; "
           f"{result['elapsed'] / 60:.1f} min, {len(samples)} samples",
           f"  load average (1/5/15 min) at start {samples[0]['load']}, middle {mid['load']}, end {samples[-1]['load']}",
           f"  {'memory, MB':<22}{'start':>9}{'middle':>9}{'end':>9}{'slope/10 min':>14}{'2nd half':>10}"]
    for label, key in SERIES.items():
        out.append(f"  {label:<22}{key(samples[0]):>9.1f}{key(mid):>9.1f}{key(samples[-1]):>9.1f}"
                   f"{slope(samples, key):>+14.2f}{slope(half, key):>+10.2f}")
    out.append(f"  (start = the first sample, {samples[0]['min']:.1f} min after Start; 'sim' sums both sims)")
    out.append(f"  {'stream':<12}{'produced':>12}{'stored':>12}{'file bytes':>14}{'dropped':>9}  accounted")
    for r in streampage.accounting(result):
        out.append(f"  {r['name']:<12}{r['produced']:>12,}{r['records']:>12,}{r['fileBytes']:>14,}{r['dropped']:>9}"
                   f"  {'yes' if r['ok'] else 'NO'}")
    out.append(f"  run status: {result['status']}" + ("" if result["status"] == "closed" else f", errors: {result['errors']}"))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--vehicles", type=int, default=20, help="cars per sim")
    ap.add_argument("--every", type=float, default=60, help="seconds between memory samples")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, streampage.app(p) as (page, profile):
        spec = streampage.install(page, MODEL.name, MODEL.read_bytes(), "vehicle_logger")
        cfg = {"workers": 2, "mode": "opfs", "pace": "realtime", "durationS": 0,
               "source": {"source": spec, "params": {"vehicles": args.vehicles, "minutes": args.minutes}, "seed": 1}}
        streampage.start(page, cfg)
        t0, samples = time.monotonic(), []
        while streampage.running(page):
            samples.append(sample(page, profile, t0))
            s = samples[-1]
            print(f"# {s['min']:5.1f} min load {s['load']}: renderer RSS {s['renderer_rss']:.0f} USS {s['renderer_uss']:.0f} "
                  f"tree {s['tree_rss']:.0f} MB; JS heaps {', '.join(f'{k} {v:.1f}' for k, v in s['js'].items() if k != 'error')}"
                  f"; logger {s['logger']}", flush=True)
            page.wait_for_timeout(max(0, args.every * 1000 - (time.monotonic() - t0 - s["min"] * 60) * 1000))
        result = streampage.finish(page)
    print()
    print(report(samples, result, args))


if __name__ == "__main__":
    main()
