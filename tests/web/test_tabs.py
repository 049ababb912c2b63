"""Tabs of one origin never collide: two (or three) pages of one persistent
context, each with its own logger, coordinating through Web Locks and a
BroadcastChannel over the same OPFS."""

import jsonschema
import pytest
from pageflow import BOOT_TIMEOUT_MS, download_run, fetch_cli, verify_cli

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
    page.goto(app_url)
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    return page


def status_cell(page, run_id):
    return page.locator(f"#runs tr[data-run-id='{run_id}'] td.status")


def test_another_tabs_open_run_is_listed_live_downloads_as_a_snapshot_and_cannot_be_deleted(page, context, app_url, tmp_path):
    a = open_page(context, app_url, page)
    b = open_page(context, app_url)
    run_id = a.evaluate(START, ["opfs", 0, 100_000, None, None])
    # B's table follows A's run without a click on Refresh
    cell = status_cell(b, run_id)
    cell.wait_for(timeout=10_000)
    assert cell.inner_text() == "open (being written in another tab)"
    b.wait_for_timeout(1500)

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
