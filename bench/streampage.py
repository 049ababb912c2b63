"""The app page for the stream benchmarks: a run of user code (the page's own
install path, as a user's file), per-stream accounting at its close, and the
memory of the browser's processes.

The profile directory is ours (persistent, as every benchmark here), so the
Chromium processes behind the page can be found and sampled with psutil.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

import harness

# One run with any source, to its close: elapsed from start() (wall, ms in the
# page), the manifest's streams, and what every sim's Producer said it released.
RUN_JS = """async (cfg) => {
  const pl = window.vpslog.pipeline;
  const done = new Promise((resolve) => pl.addEventListener('run', function on(e) {
    if (e.detail.state === 'closed') { pl.removeEventListener('run', on); resolve(e.detail); }
  }));
  await pl.prepare(cfg);  // as the page does while its form is idle
  const t0 = performance.now();
  await pl.start(cfg);
  const d = await done;
  const elapsed = (performance.now() - t0) / 1000;
  const opfs = cfg.mode === 'opfs';  // the null sink stores nothing
  const runs = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs');
  const streams = [];
  for (const s of d.manifest.streams ?? []) {
    const fileBytes = opfs ? (await (await runs.getFileHandle(s.file)).getFile()).size : null;
    streams.push({ name: s.name, records: s.records, bytes: s.bytes, fileBytes, dropped: s.dropped_records ?? 0,
                   recordSize: s.layout.record_size });
  }
  if (opfs) await pl.deleteRun(d.runId);  // keep the profile small
  return { runId: d.runId, elapsed, status: d.manifest.status, errors: d.manifest.errors ?? null, streams,
           produced: d.sims.map((s) => s.stats?.streams ?? {}), simWaitMs: d.sims.map((s) => s.waitMs) };
}"""

INSTALL_JS = """async ([file, b64, spec]) => {
  const pl = window.vpslog.pipeline;
  await pl.installCode(file, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer);
  return (await pl.declare(spec)).spec;
}"""


def run(page, cfg: dict) -> dict:
    """One run of ``cfg`` (Pipeline.start's config) to its close; see RUN_JS."""
    return page.evaluate(RUN_JS, cfg)


def start(page, cfg: dict) -> None:
    """Start a run of ``cfg`` and return at once; ``finish`` waits for its close."""
    page.evaluate(f"cfg => {{ window.benchRunning = true;"
                  f" window.benchRun = ({RUN_JS})(cfg).finally(() => {{ window.benchRunning = false; }}); }}", cfg)


def running(page) -> bool:
    return page.evaluate("() => window.benchRunning")


def finish(page) -> dict:
    return page.evaluate("() => window.benchRun")


# Chromium's own per-context memory measurement (JS heaps, by worker script);
# it waits for a garbage collection, so it takes up to ~20 s.
UA_MEMORY_JS = """async () => {
  const r = await performance.measureUserAgentSpecificMemory();
  const by = {};
  for (const b of r.breakdown) for (const a of b.attribution) {
    const k = a.scope === 'Window' ? 'page' : a.url.split('?')[0].split('/').pop().replace('.worker.js', '');
    by[k] = (by[k] ?? 0) + b.bytes / 2 ** 20 / b.attribution.length;
  }
  return by;
}"""


def ua_memory(page) -> dict:
    """MB of JS heap per context kind (page, logger, sim, map: the sims' two summed)."""
    return page.evaluate(UA_MEMORY_JS)


@contextlib.contextmanager
def app(playwright):
    """(page, profile dir) for the app as `npm start` serves it, in a fresh persistent profile."""
    port = harness.free_port()
    with harness.backend(f"http://127.0.0.1:{port}") as api, \
            harness.dev_server(port, api["api"].removesuffix("/api")) as url, \
            tempfile.TemporaryDirectory(prefix="vpslog-bench-profile-") as profile, \
            harness.persistent_context(playwright, profile) as ctx:
        guard = harness.OffHostGuard(ctx)
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_selector("#start:not([disabled])", timeout=300_000)  # a first boot, on a busy machine
        yield page, profile
        assert not guard.off_host, guard.off_host


def install(page, file: str, data: bytes, spec: str) -> str:
    """Install a user's file (a .py or a wheel) in every sim, as the page's file input does; its source spec."""
    return page.evaluate(INSTALL_JS, [file, base64.b64encode(data).decode(), spec])


def wheel(name: str, modules: list[Path]) -> tuple[str, bytes]:
    """Modules packaged as one pure-Python wheel, as a user's build tool would (the page
    holds one user's code at a time); (file name, bytes)."""
    file, info = f"{name}-1.0-py3-none-any.whl", f"{name}-1.0.dist-info"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for m in modules:
            z.write(m, m.name)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nRequires-Dist: vpslog\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return file, buf.getvalue()


def accounting(r: dict) -> list[dict]:
    """Per stream: records the sims' Producers released against records stored (the
    manifest and, in OPFS, the file's size agreeing), and dropped."""
    rows = []
    for s in r["streams"]:
        produced = sum(p.get(s["name"], 0) for p in r["produced"])
        rows.append({**s, "produced": produced, "ok": produced == s["records"] and s["dropped"] == 0
                     and s["bytes"] == s["records"] * s["recordSize"] and s["fileBytes"] in (None, s["bytes"])})
    return rows


def chromium_processes(profile: str):
    """The Chromium processes of this profile: the browser and its children."""
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        if any(a == f"--user-data-dir={profile}" for a in p.info["cmdline"] or ()):
            return [p, *p.children(recursive=True)]
    raise RuntimeError(f"no Chromium runs with the profile {profile}")


def process_memory(profile: str) -> dict:
    """Resident and unique memory (MB) of the renderers (the page with all its
    workers: logger, sims, map) and of the whole browser tree."""
    import psutil

    out = {"renderer_rss": 0.0, "renderer_uss": 0.0, "tree_rss": 0.0}
    for p in chromium_processes(profile):
        with contextlib.suppress(psutil.Error):
            rss = p.memory_info().rss / 2**20
            out["tree_rss"] += rss
            if "--type=renderer" in p.cmdline():
                out["renderer_rss"] += rss
                out["renderer_uss"] += p.memory_full_info().uss / 2**20
    return out


def load() -> str:
    """The machine's load average (1, 5, 15 min), to print beside each figure."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg())
