"""`vpslog app` as a user gets it (tests/installed_app.py: the built wheel in a venv of its own).

- wheel sizes: the host wheel (the whole app) and the browser's wheel inside it;
- start to Start-enabled: from launching `vpslog app` until the page's Start button
  is enabled (both sims booted) in headless Chromium, cold (a new profile: nothing
  cached, no Pyodide snapshot) and warm (the same profile again, with a new app
  process). Chromium is launched before the clock starts, and the page is opened as
  soon as the app prints its URL; persistent profiles, as in every benchmark here;
- bytes of a first visit (new profile, until Start is enabled) as transferred
  (encoded bodies + headers, workers included), `vpslog app` against the Vite dev
  server of `npm start` (harness.dev_server).

    .venv/bin/python bench/app.py --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import harness  # noqa: E402
import installed_app  # noqa: E402

START_ENABLED = "#start:not([disabled])"
BOOT_TIMEOUT_MS = 120_000


def wheel_sizes(wheel: Path) -> tuple[int, int]:
    with zipfile.ZipFile(wheel) as z:
        inner = next(i for i in z.infolist() if i.filename.startswith("vpslog/webapp/pyodide/vpslog-"))
    return wheel.stat().st_size, inner.file_size


def start_to_enabled(playwright, venv: Path, profile: str, port: int) -> float:
    """Seconds from launching `vpslog app` on ``port`` to Start enabled, in Chromium on ``profile``."""
    with harness.persistent_context(playwright, profile) as ctx:
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        t0 = time.perf_counter()
        with installed_app.running_app(venv, port=port) as app:
            page.goto(app.url)
            page.wait_for_selector(START_ENABLED, timeout=BOOT_TIMEOUT_MS)
            elapsed = time.perf_counter() - t0
            app.stop()
    return elapsed


def first_visit_bytes(playwright, url: str) -> tuple[int, int]:
    """(bytes transferred, requests) from opening ``url`` in a new profile until Start is enabled."""
    finished = []
    with harness.persistent_context(playwright) as ctx:
        ctx.on("requestfinished", lambda r: finished.append(r))
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(url)
        page.wait_for_selector(START_ENABLED, timeout=BOOT_TIMEOUT_MS)
        sizes = [r.sizes() for r in finished]
    return sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes), len(sizes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    wheel = installed_app.built_wheel()
    venv = installed_app.venv_for(wheel)
    host, browser = wheel_sizes(wheel)
    print(f"wheel: {wheel.name} {host / 1e6:.2f} MB (the browser's vpslog wheel inside: {browser / 1e3:.0f} kB)")

    cold, warm, app_bytes, dev_bytes = [], [], [], []
    with sync_playwright() as p:
        for _ in range(args.reps):
            # warm: the same origin (port) and profile, so its HTTP cache, OPFS and Pyodide snapshot
            port = harness.free_port()
            with tempfile.TemporaryDirectory(prefix="vpslog-bench-profile-") as profile:
                cold.append(start_to_enabled(p, venv, profile, port))
                warm.append(start_to_enabled(p, venv, profile, port))
            with installed_app.running_app(venv) as app:
                app_bytes.append(first_visit_bytes(p, app.url))
            with harness.dev_server() as url:
                dev_bytes.append(first_visit_bytes(p, url))

    med = statistics.median
    print(f"vpslog app start -> Start enabled, median of {args.reps}: cold {med(cold):.2f} s "
          f"({', '.join(f'{s:.2f}' for s in cold)}), warm {med(warm):.2f} s ({', '.join(f'{s:.2f}' for s in warm)})")
    for name, runs in (("vpslog app", app_bytes), ("vite dev server (npm start)", dev_bytes)):
        print(f"first visit to Start enabled, {name}: {med(b for b, _ in runs) / 1e6:.2f} MB transferred "
              f"in {med(n for _, n in runs):.0f} requests")


if __name__ == "__main__":
    main()
