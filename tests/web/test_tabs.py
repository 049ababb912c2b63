"""Tabs of one origin never collide: two (or three) pages of one persistent
context, each with its own logger, coordinating through Web Locks and a
BroadcastChannel over the same OPFS."""

import jsonschema
import pytest
from pageflow import BOOT_TIMEOUT_MS, download_run, fetch_cli, verify_cli, wait_until

import harness
from vpslog.manifest import schema

pytestmark = pytest.mark.browser

START = """([mode, seconds, rate, retry, apiToken]) => window.vpslog.pipeline.start({
  workers: 1, pace: 'realtime', durationS: seconds, mode, cloud: retry ? { retry } : undefined, apiToken,
  source: { source: 'load', params: { rate, vehicles: 20000, edges: 4000, error_rate: 0.001 }, seed: 3 } })"""
WATCH_CLOSE = """() => { window.__closed = null; window.vpslog.pipeline.addEventListener('run', (e) => {
  if (e.detail.state === 'closed') window.__closed = e.detail.runId;
}); }"""


def open_page(context, app_url, page=None):
    page = page or context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(app_url)
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    return page


@pytest.fixture(scope="module")
def tabs(playwright_instance, app_url):
    """One persistent context for the module's OPFS tests: ``tabs()`` gives two live
    tabs of it, opening a new one for each a test has closed (later boots restore
    the first one's Python snapshot, so that costs little)."""
    with harness.persistent_context(playwright_instance) as ctx:
        guard = harness.OffHostGuard(ctx)
        live = []

        def two():
            live[:] = [p for p in live if not p.is_closed()]
            blank = [p for p in ctx.pages if p not in live]
            while len(live) < 2:
                live.append(open_page(ctx, app_url, blank.pop() if blank else None))
            return live[:2]

        yield two
        assert not guard.off_host, guard.off_host


def status_cell(page, run_id):
    return page.locator(f"#runs tr[data-run-id='{run_id}'] td.status")


def wait_stored(page, run_id):
    """Until the run's file in OPFS holds records, as ``page`` lists it."""
    wait_until(page, "async (id) => (await window.vpslog.pipeline.listRuns()).find((r) => r.runId === id)?.bytes > 0",
               run_id, f"records of {run_id} in OPFS")


def test_another_tabs_open_run_is_listed_live_downloads_as_a_snapshot_and_cannot_be_deleted(tabs, tmp_path):
    a, b = tabs()
    run_id = a.evaluate(START, ["opfs", 0, 100_000, None, None])
    # B's table follows A's run without a click on Refresh
    cell = status_cell(b, run_id)
    cell.wait_for(timeout=10_000)
    assert cell.inner_text() == "open (being written in another tab)"
    wait_stored(b, run_id)

    # Download in B while A writes: a consistent snapshot of whole records, and a manifest saying so
    snap_bin, snap = download_run(b, run_id, tmp_path / "snap")
    assert snap["status"] == "snapshot" and snap["snapshot_at"]
    jsonschema.validate(snap, schema())
    assert snap_bin.stat().st_size == snap["bytes"] > 0 and snap["bytes"] % 10 == 0
    code, report = verify_cli(snap_bin)
    assert code == 0 and report["warnings"], report

    # Delete in B is refused with a plain message; the run stays
    b.on("dialog", lambda d: d.accept())
    b.locator(f"#runs tr[data-run-id='{run_id}'] button.delete").click()
    b.wait_for_function("() => document.querySelector('#errors').innerText.includes('delete')")
    errors = b.inner_text("#errors")
    assert f"run {run_id} is being written by another tab; stop it there first" in errors
    assert "DOMException" not in errors and "removeEntry" not in errors
    assert cell.inner_text().startswith("open")

    # A stops; B shows the final state by itself
    a.evaluate(WATCH_CLOSE)
    a.evaluate("window.vpslog.pipeline.stop()")
    a.wait_for_function("() => window.__closed", timeout=60_000)
    b.wait_for_function(f"() => document.querySelector(\"#runs tr[data-run-id='{run_id}'] td.status\").innerText === 'closed'",
                        timeout=10_000)
    final_bin, final = download_run(b, run_id, tmp_path / "final")
    assert final["status"] == "closed" and final["records"] > snap["records"]
    # the snapshot is exactly the start of the finished run
    assert final_bin.read_bytes()[:snap["bytes"]] == snap_bin.read_bytes()
    assert not a.errors and not b.errors, (a.errors, b.errors)


def test_a_live_tab_repairs_the_run_of_a_tab_that_dies(tabs, tmp_path):
    a, b = tabs()
    run_id = a.evaluate(START, ["opfs", 0, 100_000, None, None])
    status_cell(b, run_id).wait_for(timeout=10_000)  # B has heard of the run: it waits on the run's lock
    wait_stored(b, run_id)
    b.evaluate("window.__sameDocument = true")
    a.close()  # the writing tab goes away without stopping its run
    # B, open all along and never reloaded, gets the lock A held and repairs the run
    b.locator(f"#runs tr[data-run-id='{run_id}'][data-status='recovered']").wait_for(timeout=30_000)
    assert b.evaluate("window.__sameDocument === true")
    assert f"run {run_id} was interrupted (the tab writing this run stopped without closing it" in b.inner_text("#errors")
    bin_path, manifest = download_run(b, run_id, tmp_path)
    assert manifest["status"] == "recovered" and manifest["recovered_at"] and manifest["records"] > 0
    jsonschema.validate(manifest, schema())
    assert bin_path.stat().st_size == manifest["bytes"] == manifest["records"] * 10
    code, report = verify_cli(bin_path)
    assert code == 0 and len(report["warnings"]) == 1 and "interrupted and recovered" in report["warnings"][0], report
    assert not b.errors, b.errors


def test_every_tab_notices_dlq_work_and_exactly_one_replays_it(page, context, app_url, backend, tmp_path):
    a = open_page(context, app_url, page)
    b = open_page(context, app_url)
    harness.set_faults(backend, refuse_for_s=600)  # the endpoint is down
    a.evaluate(WATCH_CLOSE)
    run_id = a.evaluate(START, ["cloud", 2, 500_000, {"maxElapsedMs": 1000}, backend["api_token"]])
    a.wait_for_function("() => window.__closed", timeout=90_000)
    result = a.inner_text("#run-result")
    entries = a.evaluate("window.vpslog.stats.dlqEntries")
    assert entries >= 2
    # A says where the parts are: none reached the bucket
    assert f": 0 in the bucket, {entries - 1} waiting in the dead-letter queue" in result, result
    assert " in the bucket (manifest" not in result
    # B, open all along, notices the entries A queued
    b.wait_for_function(f"() => window.vpslog.stats?.dlqEntries === {entries}", timeout=10_000)
    a.close()
    c = open_page(context, app_url)  # a third tab, so that two live tabs could replay
    harness.set_faults(backend)  # the endpoint is back
    for p in (b, c):
        p.wait_for_function("() => window.vpslog.stats?.dlqEntries === 0", timeout=90_000, polling=250)
    replayed = [p.evaluate("window.vpslog.stats.replayed") for p in (b, c)]
    assert sum(replayed) == entries, replayed  # each entry replayed once, by one tab
    assert harness.fault_stats(backend)["stats"]["puts_ok"] == entries
    # "Parts uploaded" counts the parts a tab replayed
    parts_replayed = sum(p.evaluate("window.vpslog.stats.partsUploaded ?? 0") for p in (b, c))
    assert parts_replayed == entries - 1
    out = fetch_cli(backend, run_id, tmp_path)
    assert out.returncode == 0, out.stderr
