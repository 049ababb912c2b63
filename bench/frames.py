"""Main-thread frames with the live view rendering a large traffic run.

Cases interleaved and repeated in one browser: a traffic run logged at full
rate (pace=max) into OPFS, the same run into the null sink, and no run. In
every case the live view shows the same network (the previous run's map stays
on the page), so "no run" is the view standing still, not a bare page: the
ratio compares a page whose view moves while logging with the same page whose
view is idle. A fourth case is a reference for the machine: no run, but two
plain workers keeping two cores busy, as the two sims do at full rate; frames
missed there are CPU contention, not logging. Also: the map's redraw cost on
its own (in the map worker) and, with --profile, where the main thread spends
its time during an OPFS run (a Chromium CPU profile over CDP).

    .venv/bin/python bench/frames.py --seconds 4 --reps 5 [--profile]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import harness  # noqa: E402

CASES = {"opfs": "logging to OPFS", "null": "logging to the null sink", "none": "no run (the view idle)",
         "spin": "no run, 2 workers spinning"}
RUN_SOURCE = {"source": "traffic", "params": {"vehicles": 60000, "grid": 96, "duration_s": 600}, "seed": 1}
LABEL = "a traffic run (96x96 grid, 36,480 edges, 60,000 vehicles, 2 sims, pace=max)"

RAF_JS = """(seconds, ends) => new Promise((resolve) => {
  const gaps = []; let last = performance.now(); const end = last + seconds * 1000;
  const frame = (t) => { gaps.push(t - last); ends?.push(t); last = t; if (t < end) requestAnimationFrame(frame); else resolve(gaps); };
  requestAnimationFrame((t) => { last = t; requestAnimationFrame(frame); });
})"""

# One case: rAF gaps over 80 % of the run and long tasks from Start until the
# run has closed (times from Start, ms), and how many times the map was redrawn
# meanwhile (the view moves, or not).
FRAMES_JS = """async ([mode, seconds, source]) => {
  const pl = window.vpslog.pipeline, view = window.vpslog.view;
  const t0 = performance.now();
  const longTasks = [];
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push([e.startTime - t0, e.duration]); });
  obs.observe({ type: 'longtask' });
  let done = null;
  let spinners = [];
  if (mode === 'spin') {
    // the reference: two workers keep both cores busy, nothing is logged and the view stands still
    const src = 'onmessage = (e) => { const end = performance.now() + e.data; while (performance.now() < end); postMessage(0); }';
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    spinners = [0, 1].map(() => new Worker(url));
    spinners.forEach((w) => w.postMessage(seconds * 1000));
  } else if (mode !== 'none') {
    done = new Promise((resolve) => pl.addEventListener('run', function on(e) {
      if (e.detail.state === 'closed') { pl.removeEventListener('run', on); resolve(e.detail); }
    }));
    await pl.start({ workers: 2, mode, pace: 'max', durationS: seconds, source });
  }
  const started = performance.now() - t0;
  const before = await view.mapStats();
  const ends = [];
  const gaps = await (RAF)(seconds * 0.8, ends);
  const after = await view.mapStats();
  // a run that does not close says where it stands instead of hanging the bench
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`run did not close: ${JSON.stringify({
    run: pl.run && { runId: pl.run.runId, stopping: pl.run.stopping }, sims: pl.sims.map((s) => [s.state, s.status]),
    stats: window.vpslog.stats })}`)), seconds * 1000 + 60_000); });
  const d = done && await Promise.race([done, late]);
  clearTimeout(timer);
  const closed = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 200)); // long tasks of the close are reported late
  obs.disconnect();
  spinners.forEach((w) => w.terminate());
  if (d && mode === 'opfs') await pl.deleteRun(d.runId);
  const redraws = after.redraws - before.redraws;
  return { gaps, ends: ends.map((t) => t - t0), longTasks, started, closed, redraws,
           drawMs: redraws ? after.drawMs.slice(-redraws) : [], edges: after.edges, edgesDrawn: after.edgesDrawn };
}"""

# The map's redraw cost on its own, in the view worker: a synthetic 30,000+-edge
# grid with 65,535 vehicles, every edge's occupancy new on every redraw.
RENDER_JS = """() => window.vpslog.view.benchRedraw({ side: 123, vehicles: 65535, redraws: 25 })"""


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def measure(page, seconds: float = 3, reps: int = 3, progress=print) -> dict:
    """The three cases interleaved ``reps`` times, after one warm-up run that
    puts the network on the map; and the redraw cost on its own."""
    js = FRAMES_JS.replace("(RAF)", f"({RAF_JS})")
    page.evaluate(js, ["null", seconds, RUN_SOURCE])
    frames = {m: [] for m in CASES}
    for rep in range(reps):
        for m in frames:
            frames[m].append(page.evaluate(js, [m, seconds, RUN_SOURCE]))
        progress(f"#   frames rep {rep + 1}: " + ", ".join(
            f"{m} p99 {pct(frames[m][-1]['gaps'], .99):.1f} ms" for m in frames), flush=True)
    return {"frames": frames, "render": page.evaluate(RENDER_JS)}


def missed(r: dict) -> tuple[int, int]:
    """Frames that took two vsync intervals or more, and how many of them
    overlapped a long task on the main thread (the others: the frame pipeline
    was starved, with the main thread free)."""
    slow = [(end - gap, end) for gap, end in zip(r["gaps"], r["ends"]) if gap > 25]
    busy = sum(any(s < b and s + d > a for s, d in r["longTasks"]) for a, b in slow)
    return len(slow), busy


def phases(r: dict) -> collections.Counter:
    """Long tasks by when they began: while Start ran, while the run logged, or as it closed."""
    return collections.Counter("start" if s < r["started"] else "run" if s < r["closed"] else "close"
                               for s, _ in r["longTasks"])


def table(res: dict, seconds: float, reps: int) -> str:
    frames, render = res["frames"], res["render"]
    out = [f"Main thread with the live view rendering {LABEL}, {seconds:g} s x {reps}, rAF gaps (ms):",
           f"  {'case':<28}{'p50':>6}{'p99':>7}{'p99/rep':>9}{'max':>7}  missed frames (with a long task)"
           f"  long tasks: n, ms (start/run/close)  map redraws/s, ms each"]
    p99 = {}
    for m, label in CASES.items():
        g = [x for r in frames[m] for x in r["gaps"]]
        lt = [d for r in frames[m] for _, d in r["longTasks"]]
        when = sum((phases(r) for r in frames[m]), collections.Counter())
        slow, busy = map(sum, zip(*(missed(r) for r in frames[m])))
        draws = [x for r in frames[m] for x in r["drawMs"]]
        per_s = median([r["redraws"] / (seconds * 0.8) for r in frames[m]])
        p99[m] = median([pct(r["gaps"], .99) for r in frames[m]])
        out.append(f"  {label:<28}{pct(g, .5):>6.1f}{pct(g, .99):>7.1f}{p99[m]:>9.1f}{max(g):>7.1f}  {slow:>5} of {len(g):>5} ({busy})"
                   f"{len(lt):>19}, {sum(lt):>4.0f} ({when['start']}/{when['run']}/{when['close']})"
                   f"{per_s:>17.1f}, {median(draws):.1f}")
    out.append(f"  p99 ratio (median of the reps' p99) OPFS/no run: {p99['opfs'] / p99['none']:.2f},"
               f" null/no run: {p99['null'] / p99['none']:.2f}; reference, 2 cores kept busy without logging:"
               f" {p99['spin'] / p99['none']:.2f}")
    last = frames["none"][-1]  # the last run's map, standing still
    out.append(f"  the map (drawn by its worker) shows {last['edgesDrawn']:,} of the run's {last['edges']:,} edges")
    t = render["times"]
    out.append(f"Map redraw alone (map worker, off the main thread): {render['edges']:,} edges, {render['vehicles']:,}"
               f" vehicles on {render['w']}x{render['h']} px: median {median(t):.1f} ms, p95 {pct(t, .95):.1f} ms per redraw"
               f" (at most 10/s); pixel layout once per network and size {render['layoutMs']:.0f} ms")
    return "\n".join(out)


def profile(page, seconds: float) -> str:
    """Self time of the main thread's functions during one OPFS run (CDP CPU profile)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 200})
    cdp.send("Profiler.start")
    page.evaluate(FRAMES_JS.replace("(RAF)", f"({RAF_JS})"), ["opfs", seconds, RUN_SOURCE])
    prof = cdp.send("Profiler.stop")["profile"]
    nodes = {n["id"]: n for n in prof["nodes"]}
    dts = prof["timeDeltas"]
    self_ms = collections.Counter()
    for sid, dt in zip(prof["samples"], dts[1:] + [0]):
        f = nodes[sid]["callFrame"]
        where = f"{f['functionName'] or '(anonymous)'} {Path(f['url']).name}:{f['lineNumber'] + 1}" if f["url"] else f["functionName"]
        self_ms[where] += dt / 1000
    total = sum(self_ms.values())
    lines = [f"Main-thread CPU profile of one OPFS run ({total:.0f} ms sampled), self time:"]
    for where, ms in self_ms.most_common(18):
        lines.append(f"  {ms:>8.1f} ms  {where}")
    return "\n".join(lines)


TASK_EVENTS = {"RunTask", "ThreadControllerImpl::RunTask"}


def trace(page, seconds: float) -> str:
    """The main thread's long tasks during one OPFS run, from a Chromium trace:
    wall time against the thread's own CPU time, and what ran in them. A long
    task with little CPU time is the thread waiting for a core, not work."""
    cdp = page.context.new_cdp_session(page)
    events, done = [], []
    cdp.on("Tracing.dataCollected", lambda p: events.extend(p["value"]))
    cdp.on("Tracing.tracingComplete", lambda p: done.append(1))
    cdp.send("Tracing.start", {"categories": "devtools.timeline,disabled-by-default-devtools.timeline",
                               "transferMode": "ReportEvents"})
    page.evaluate(FRAMES_JS.replace("(RAF)", f"({RAF_JS})"), ["opfs", seconds, RUN_SOURCE])
    cdp.send("Tracing.end")
    while not done:
        page.wait_for_timeout(100)
    main = {(e["pid"], e["tid"]) for e in events if e.get("name") == "thread_name" and e["args"]["name"] == "CrRendererMain"}
    spans = [e for e in events if (e.get("pid"), e.get("tid")) in main and e.get("ph") == "X"]
    runs = [e for e in spans if e["name"] in TASK_EVENTS and e.get("dur", 0) > 50_000]
    tasks = [t for t in runs if not any(o is not t and o["ts"] <= t["ts"] < o["ts"] + o["dur"] for o in runs)]
    lines = [f"Main-thread tasks over 50 ms during one OPFS run (trace): {len(tasks)}"]
    for t in tasks:
        inside = collections.Counter()
        for e in spans:
            if t["ts"] <= e["ts"] < t["ts"] + t["dur"] and e["name"] not in TASK_EVENTS:
                inside[e["name"]] += e.get("dur", 0) / 1000
        lines.append(f"  {t['dur'] / 1000:6.1f} ms wall, {t.get('tdur', 0) / 1000:5.1f} ms CPU: "
                     + ", ".join(f"{n} {ms:.1f}" for n, ms in inside.most_common(4)))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--profile", action="store_true",
                    help="also print a main-thread CPU profile and the long tasks' CPU time (a trace) of OPFS runs")
    args = ap.parse_args()
    with harness.app_page() as (page, _url):
        page.wait_for_selector("#start:not([disabled])", timeout=300_000)  # a first boot, on a busy machine
        res = measure(page, args.seconds, args.reps)
        extra = [profile(page, args.seconds), trace(page, args.seconds)] if args.profile else []
    print()
    print(table(res, args.seconds, args.reps))
    for text in extra:
        print()
        print(text)


if __name__ == "__main__":
    main()
