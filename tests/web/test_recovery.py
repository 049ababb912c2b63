"""Interrupted runs are repaired, and the loss bound of docs/architecture.md holds.

A run is interrupted at a random moment by a page reload, by closing the
browser, or by killing the renderer process (SIGKILL; CDP Page.crash crashes it
too, but the command then never returns to Playwright); the next page start finds
the run `open` with its Web Lock free and repairs it. Every trial then downloads
the recovered run as a user would and checks that:
- `vpslog verify` accepts it (status `recovered`, one warning line);
- every record is valid and each producer's records are a gap-free prefix of
  its stream (the load generator is deterministic: vpslog.loadgen regenerates it);
- the loss is within the bound of docs/architecture.md (the staging buffer + per sim 64 buffers in
  flight + a partial buffer), measured against what the sims had produced when they
  died, not against their last reports (which lag by up to 250 ms and understate
  the loss): at real-time pace a sim's records leave it only once its clock, started
  after the run opened, reaches their time less a 50 ms lead, so the regenerated
  stream up to the moment the sims were dead bounds what they had produced.

One browser profile and one dev server for the module; each trial's recovery
page is the next trial's run page, so a trial costs one Python boot."""

import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from pageflow import BOOT_TIMEOUT_MS, download_run, fetch_cli, verify_cli, wait_until

import harness
from vpslog import Part, bridge, record
from vpslog.manifest import schema
from vpslog.record import RECORD_SIZE, RECORDS_PER_BUFFER

pytestmark = pytest.mark.browser
TRIALS = 5
WORKERS = 2
SOURCE = {"source": "load", "params": {"rate": 50_000, "vehicles": 20_000, "edges": 4_000, "error_rate": 0.001}, "seed": 9}
BUFFER = RECORD_SIZE * RECORDS_PER_BUFFER
STAGING_RECORDS = 256 * 1024 // RECORD_SIZE  # workers/sinks/opfs.js STAGING_BYTES
CREDIT_WINDOW = 64  # workers/protocol.js
REALTIME_LEAD_MS = 50  # workers/sim/run.js: how far a sim's model may run ahead of its clock
# docs/architecture.md: the staging buffer, and per sim 64 buffers in flight and a partial buffer (< 409 records)
LOSS_BOUND = STAGING_RECORDS + WORKERS * (CREDIT_WINDOW * RECORDS_PER_BUFFER + RECORDS_PER_BUFFER - 1)
SEED = random.randrange(1 << 30)
RESULTS = []

START = """async ([source, apiToken]) => {
  const pl = window.vpslog.pipeline;
  return pl.start({ workers: %d, source, pace: 'realtime', durationS: 0, mode: 'opfs', apiToken });
}""" % WORKERS

# The sims report their counts every 250 ms: fresh reports from all of them, a lower
# bound of what they produced (a check on the upper bound the loss is measured against).
FRESH_COUNTS = """() => new Promise((resolve) => {
  const pl = window.vpslog.pipeline;
  const seen = new Map();
  const before = pl.sims.map((s) => s.status);
  pl.addEventListener('sims', function on() {
    pl.sims.forEach((s, i) => { if (s.status !== before[i]) seen.set(i, s.status.records); });
    if (seen.size === pl.sims.length) { pl.removeEventListener('sims', on); resolve([...seen.entries()].sort().map(([, n]) => n)); }
  });
})"""


class Streams:
    """Each producer's expected buffers, regenerated with the same source code the sims run."""

    def __init__(self, source):
        self.producers = [bridge.Producer(source["source"], source["params"], Part(w, WORKERS, source["seed"]))
                          for w in range(WORKERS)]
        self.pending = [b"" for _ in range(WORKERS)]

    def peek(self, w, n):
        while len(self.pending[w]) < n:
            self.pending[w] += bridge.stream_data(self.producers[w].produce(16))
        return self.pending[w][:n]

    def take(self, w, n):
        self.pending[w] = self.pending[w][n:]


def due_counts(until_ms: list[int], source=SOURCE) -> list[int]:
    """How many records of each producer's stream have a time up to ``until_ms[w]``."""
    streams, counts = Streams(source), []
    for w, until in enumerate(until_ms):
        size = BUFFER
        while (times := np.frombuffer(streams.peek(w, size), dtype=record.numpy_dtype())["time_ms"])[-1] <= until:
            size *= 2
        counts.append(int(np.searchsorted(times, until, side="right")))
    return counts


def per_producer_prefix(data: bytes, source=SOURCE) -> list[int]:
    """Attribute each buffer of the file to the producer whose stream continues
    with exactly those bytes; fails on any record that fits no producer's next one."""
    streams, counts = Streams(source), [0] * WORKERS
    for off in range(0, len(data), BUFFER):
        chunk = data[off:off + BUFFER]
        owner = [w for w in range(WORKERS) if streams.peek(w, len(chunk)) == chunk]
        assert owner, f"bytes at {off} are not the next buffer of any producer's stream (gap or corruption)"
        streams.take(owner[0], len(chunk))
        counts[owner[0]] += len(chunk) // RECORD_SIZE
    return counts


@pytest.fixture(scope="module")
def profile():
    with tempfile.TemporaryDirectory(prefix="vpslog-recovery-") as d:
        yield d


@pytest.fixture(scope="module")
def browser(playwright_instance, profile):
    """The module's browser: `reopen()` closes it and starts it again on the same profile."""
    class Browser:
        ctx = None

        def reopen(self):
            if self.ctx:
                renderers = ExitWatch(renderer_pids(self.profile))
                self.ctx.close()
                renderers.join(30)
                assert renderers.at, "the browser's renderers outlived it by 30 s"
                self.closed_at = renderers.at
            self.ctx = playwright_instance.chromium.launch_persistent_context(
                profile, executable_path=harness.chromium_path(), args=harness.CHROMIUM_ARGS, headless=True,
                accept_downloads=True)
            self.ctx.add_init_script(CREATED_AT)
            self.guard = harness.OffHostGuard(self.ctx)
            return self.page()

        def page(self):
            return self.ctx.pages[0] if self.ctx.pages else self.ctx.new_page()

    b = Browser()
    b.profile = profile
    b.reopen()
    yield b
    assert not b.guard.off_host, b.guard.off_host
    b.ctx.close()


class ExitWatch(threading.Thread):
    """Sets ``at`` (epoch ms) once every one of these processes has exited."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.fds, self.at = [], None
        for pid in pids:
            try:
                self.fds.append(os.pidfd_open(pid))
            except ProcessLookupError:  # gone already
                pass
        self.start()

    def run(self):
        pending = set(self.fds)
        while pending:
            pending -= set(select.select(list(pending), [], [])[0])
        self.at = time.time() * 1000
        for fd in self.fds:
            os.close(fd)


def renderer_pids(profile):
    """Renderer processes of the module's own browser (its profile directory is unique)."""
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if d.name.isdigit() and b"--type=renderer" in cmd and f"--user-data-dir={profile}".encode() in cmd:
            yield int(d.name)


# When the document began (epoch ms): a reload creates the new one only once the old
# one, and with it its workers, is gone.
CREATED_AT = "window.__vpslogCreatedAt = performance.timeOrigin + performance.now()"


def interrupt(browser, page, how):
    """Interrupt the run; returns the page on which the app starts again and a time
    (epoch ms) by which the sims were dead."""
    if how == "reload":
        page.reload()
        return page, page.evaluate("window.__vpslogCreatedAt")
    if how == "close":
        page = browser.reopen()
        return page, browser.closed_at
    for pid in renderer_pids(browser.profile):
        os.kill(pid, signal.SIGKILL)
    dead_at = time.time() * 1000
    with pytest.raises(Exception, match="crashed"):
        page.evaluate("1")
    page.close()
    return browser.ctx.new_page(), dead_at


def check_recovered(page, app_url, run_id, produced, reported, tmp_path, how, trial):
    row = page.locator(f"#runs tr[data-run-id='{run_id}'][data-status='recovered']")
    try:
        row.wait_for(timeout=30_000)
    except Exception:
        print("at the timeout, page errors:", page.inner_text("#errors")[:2000], "runs table:", page.inner_text("#runs tbody")[:1500])
        raise
    assert "recovered" in row.locator("td.status").inner_text()
    bin_path, manifest = download_run(page, run_id, tmp_path)
    code, report = verify_cli(bin_path)
    assert code == 0 and report["ok"], report
    assert len(report["warnings"]) == 1 and "interrupted and recovered" in report["warnings"][0]
    assert manifest["status"] == "recovered" and manifest["recovered_at"] and manifest["recovery"]["cause"]
    jsonschema.validate(manifest, schema())
    data = bin_path.read_bytes()
    assert len(data) % RECORD_SIZE == 0 and len(data) == manifest["bytes"]
    survived = per_producer_prefix(data)
    # counts from the last checkpoint never claim more than the file holds
    for p, n in zip(manifest["producers"], survived):
        assert p["records"] <= n
    loss = sum(produced) - sum(survived)
    RESULTS.append({"how": how, "trial": trial, "produced": produced, "reported": reported, "survived": survived,
                    "loss": loss, "bound": LOSS_BOUND, "cut_bytes": manifest["recovery"]["trailing_bytes_cut"]})
    print(json.dumps(RESULTS[-1]))
    # the bound on what was produced is no bound if it is below what the sims said or the file holds
    assert all(p >= max(r, s) for p, r, s in zip(produced, reported, survived)), RESULTS[-1]
    assert loss <= LOSS_BOUND, RESULTS[-1]
    assert min(survived) > 0


@pytest.mark.parametrize("how", ["reload", "close", "crash"])
def test_interrupted_runs_are_recovered_within_the_loss_bound(browser, app_url, tmp_path, how):
    rng = random.Random(f"{SEED}-{how}")
    page = browser.page()
    page.goto(app_url)
    for trial in range(TRIALS):
        page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
        run_id = page.evaluate(START, [SOURCE, None])
        opened_at = page.evaluate("window.vpslog.pipeline.run.marks.openedAt")  # before the sims start their clocks
        page.wait_for_timeout(rng.uniform(600, 3000))  # a random moment of the run
        reported = page.evaluate(FRESH_COUNTS)
        page, dead_at = interrupt(browser, page, how)
        produced = due_counts([int(dead_at - opened_at) + REALTIME_LEAD_MS] * WORKERS)
        if page.url != app_url:
            page.goto(app_url)
        check_recovered(page, app_url, run_id, produced, reported, tmp_path / f"{how}-{trial}", how, trial)
    print(f"seed {SEED}: {how}: loss per trial {[r['loss'] for r in RESULTS if r['how'] == how]} (bound {LOSS_BOUND})")


CLOUD_SOURCE = {**SOURCE, "params": {**SOURCE["params"], "rate": 500_000}}
# Whether the run's last checkpoint lists its parts 1..n as safe (what recovery keeps).
# The logger rewrites the file in place: a read may land mid-write, then ask again.
CHECKPOINTED = """async ([runId, n]) => {
  try {
    const runs = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs');
    const progress = JSON.parse(await (await (await runs.getFileHandle(`${runId}.progress.json`)).getFile()).text());
    const safe = new Set(progress.streams[0].parts.map((p) => p.part));
    return Array.from({ length: n }, (_, i) => i + 1).every((part) => safe.has(part));
  } catch {
    return false;
  }
}"""


def test_an_interrupted_cloud_run_is_recovered_from_what_reached_the_bucket(browser, app_url, backend, tmp_path):
    """Parts already in the bucket stay; the next start writes a recovered manifest
    for the gap-free prefix of safe parts, uploaded after the DLQ has drained."""
    harness.set_faults(backend)
    page = browser.page()
    page.goto(app_url)
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    run_id = page.evaluate(START.replace("mode: 'opfs'", "mode: 'cloud'"), [CLOUD_SOURCE, backend["api_token"]])
    page.wait_for_function("() => (window.vpslog.stats?.partsUploaded ?? 0) >= 3", timeout=60_000, polling=100)
    wait_until(page, CHECKPOINTED, [run_id, 3], "a checkpoint listing parts 1-3", timeout_ms=30_000)
    assert fetch_cli(backend, run_id, tmp_path / "early").returncode != 0  # no manifest yet: not fetchable
    page.reload()
    page.wait_for_function("() => window.vpslog.stats && window.vpslog.stats.replayed >= 1 && window.vpslog.stats.dlqEntries === 0",
                           timeout=60_000, polling=250)
    out = fetch_cli(backend, run_id, tmp_path)
    assert out.returncode == 0, out.stderr
    code, report = verify_cli(tmp_path / f"{run_id}.bin")
    assert code == 0 and len(report["warnings"]) == 1, report
    manifest = json.loads((tmp_path / f"{run_id}.manifest.json").read_text())
    assert manifest["status"] == "recovered" and manifest["mode"] == "cloud"
    jsonschema.validate(manifest, schema())
    assert len(manifest["parts"]) >= 3 and manifest["records"] == sum(p["records"] for p in manifest["parts"])
    survived = per_producer_prefix((tmp_path / f"{run_id}.bin").read_bytes(), CLOUD_SOURCE)
    assert sum(survived) == manifest["records"] and min(survived) > 0
    # runs/ keeps nothing of a CLOUD run once it is recovered
    assert run_id not in [r["runId"] for r in page.evaluate("window.vpslog.pipeline.listRuns()")]


# large enough that the run is still going when the page reloads
TRAFFIC = {"source": "traffic", "params": {"vehicles": 65_535, "grid": 64, "alpha": 0.15, "beta": 4, "spread": 0.1,
                                          "duration_s": 1800, "error_rate": 0.0005}, "seed": 4}


def test_vpslog_analyze_reads_a_recovered_traffic_run(browser, app_url, tmp_path):
    page = browser.page()
    page.goto(app_url)
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    run_id = page.evaluate(START.replace("'realtime'", "'max'"), [TRAFFIC, None])
    page.wait_for_function("() => (window.vpslog.stats?.records ?? 0) > 100000", timeout=60_000, polling=50)
    assert page.evaluate("window.vpslog.pipeline.run?.runId") == run_id  # not closed yet
    page.reload()
    page.locator(f"#runs tr[data-run-id='{run_id}'][data-status='recovered']").wait_for(timeout=30_000)
    bin_path, manifest = download_run(page, run_id, tmp_path)
    assert manifest["status"] == "recovered" and manifest["source"]["network"]["edges"]
    out = subprocess.run([sys.executable, "-m", "vpslog.cli", "analyze", str(bin_path), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    a = json.loads(out.stdout)
    assert a["records"] == manifest["records"] and a["traversals"] > 10_000
    assert a["reported_traversals"] is None  # the sims never reported: they died with the tab


PLANT = """async ([runId, bin, manifest]) => {
  const runs = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs', { create: true });
  for (const [name, data] of [[`${runId}.bin`, new Uint8Array(bin)], [`${runId}.manifest.json`, new TextEncoder().encode(manifest)]]) {
    const w = await (await runs.getFileHandle(name, { create: true })).createWritable();
    await w.write(data);
    await w.close();
  }
}"""


def test_a_torn_trailing_record_is_cut_and_the_rest_kept(browser, app_url, tmp_path):
    """An orphan whose last write was cut mid-record (as a dying tab can leave it)."""
    import crc32c

    from vpslog import record
    from vpslog.manifest import closed_manifest

    run_id = "run-torn-tail"
    good = record.pack([(i, i % 7, i % 11, 1 + i % 2) for i in range(100)])
    m = closed_manifest(run_id=run_id, mode="opfs", config={"workers": 1, "source": {"source": "load"}, "pace": "max",
                                                             "durationS": 0},
                        source=None, producers=[{"id": 0, "records": 0, "buffers": 0, "reported_records": None,
                                                 "source": None, "stats": None}],
                        records=0, checksum="00000000", created_at="2026-11-28T00:00:00.000Z")
    m.update(status="open", closed_at=None, bytes=0, checksum=None)
    page = browser.page()
    # Planted from a page of the origin that runs no logger: an app page's logger could
    # find the orphan in its start-up scan and be cut off by the next load mid-repair
    # (the bin already cut, the manifest not yet written: then "0 bytes cut").
    page.goto(f"{app_url}pyodide/pyodide-lock.json")
    page.evaluate(PLANT, [run_id, list(good + b"\x07\x07\x07"), json.dumps(m)])
    page.goto(app_url)  # the logger finds the orphan at start
    page.locator(f"#runs tr[data-run-id='{run_id}'][data-status='recovered']").wait_for(timeout=30_000)
    bin_path, manifest = download_run(page, run_id, tmp_path)
    assert bin_path.read_bytes() == good
    assert manifest["recovery"]["trailing_bytes_cut"] == 3 and manifest["recovery"]["unattributed_records"] == 100
    assert manifest["records"] == 100 and manifest["checksum"]["value"] == f"{crc32c.crc32c(good):08x}"
    code, report = verify_cli(bin_path)
    assert code == 0, report
