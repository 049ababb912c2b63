"""End to end in headless Chromium: 2 Python sim workers -> logger -> OPFS ->
download -> `vpslog verify`, with no log data on the main thread and no request
leaving 127.0.0.1 (checked by the `context` fixture)."""

from pathlib import Path

import pytest
from pageflow import (BOOT_TIMEOUT_MS, download_run, fill_run, start_run, time_next_run, verify_cli, wait_closed,
                      wait_until)

pytestmark = pytest.mark.browser
PROBE = (Path(__file__).parent / "probes.js").read_text()


def test_two_sim_workers_run_download_verify_and_survive_reload(page, context, app_url, tmp_path):
    page.add_init_script(PROBE)
    page.goto(app_url)
    # Boot progress is visible while Python starts.
    page.wait_for_selector("#sims li[data-state=booting] progress", timeout=10_000)
    run_ms = time_next_run(page)
    result = start_run(page, source="load", rate=300_000, duration_s=3, pace="realtime")
    run_id, produced, logged = result["runId"], int(result["produced"]), int(result["logged"])
    assert result["status"] == "closed"
    assert produced > 100_000 and produced == logged

    # Download the .bin and the manifest from the runs table, verify as a user would.
    bin_path, manifest = download_run(page, run_id, tmp_path)
    assert bin_path.stat().st_size == produced * 10
    code, report = verify_cli(bin_path)
    assert code == 0, report
    assert report["ok"] and report["records"] == produced
    assert report["checksum"] == manifest["checksum"]["value"]
    assert report["status_counts"]["enter"] > 0 and report["status_counts"]["exit"] > 0
    assert len(manifest["producers"]) == 2
    assert all(p["records"] == p["reported_records"] > 0 for p in manifest["producers"])
    assert manifest["config"]["workers"] == 2 and manifest["status"] == "closed"

    # The main thread saw worker messages (stats, progress) but no record bytes.
    probe = page.evaluate("window.__vpslogProbe")
    assert probe["messages"] > 10 and probe["binaryBytes"] == 0, {k: v for k, v in probe.items() if k != "view"}
    # The view channel: at most 10 messages a second per sim (one every VIEW_MS while
    # it runs, and its last), each a few hundred bytes of aggregates (this source
    # publishes no occupancy), never a buffer of records. A sim sends them between
    # the click on Start and the run's close, whatever delays their arrival here.
    views = [v for v in probe["view"] if v["type"] == "sim.view"]
    for producer in (0, 1):
        sent = sum(v["producer"] == producer for v in views)
        assert 10 <= sent <= run_ms() / 100 + 2, (sent, run_ms())
    assert max(v["bytes"] for v in views) <= 256 < 4090
    # ...and the probe does see binary data when a worker sends some.
    page.evaluate("""() => new Promise((resolve) => {
        const w = new Worker(URL.createObjectURL(new Blob(['postMessage(new ArrayBuffer(4090))'])));
        w.onmessage = () => setTimeout(resolve, 0);
    })""")
    assert page.evaluate("window.__vpslogProbe.binaryBytes") == 4090

    # A reload keeps the run listed from OPFS, closed, with its record count.
    page.reload()
    row = page.locator(f"#runs tr[data-run-id='{run_id}']")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[3] == "closed" and cells[2].replace(",", "") == str(produced)
    assert not page.errors, page.errors
    assert context.guard.requests > 20  # the guard really watched the traffic


def test_delete_removes_a_stored_run(page, app_url):
    page.goto(app_url)
    result = start_run(page, workers=1, source="load", rate=50_000, duration_s=1)
    row = page.locator(f"#runs tr[data-run-id='{result['runId']}']")
    row.wait_for()
    page.on("dialog", lambda d: d.accept())
    row.locator("button.delete").click()
    row.wait_for(state="detached")
    runs = page.evaluate("window.vpslog.pipeline.listRuns()")
    assert result["runId"] not in [r["runId"] for r in runs]


BAD_START = """async () => {
  const pl = window.vpslog.pipeline;
  await pl.ensureSims(2);
  const runs = (await pl.listRuns()).length;
  window.runChanges = [];
  pl.addEventListener('runs', (e) => window.runChanges.push(e.detail));
  const refused = await pl.start({ workers: 2, mode: 'opfs', pace: 'max', durationS: 1,
                                   source: { source: 'load', params: { error_rate: 2 }, seed: 1 } })
    .then(() => null, (e) => e.message);
  const changes = window.runChanges.slice();
  return { refused, runs, running: !!pl.run, changes, runsAfter: (await pl.listRuns()).length };
}"""


def test_bad_parameters_are_refused_before_a_run_opens(page, app_url):
    """Every sim builds its part before the logger opens a run (time to first
    record): a part that cannot be built is refused with nothing written, and
    the next good run starts as usual."""
    page.goto(app_url)
    page.fill("input[name=workers]", "2")
    out = page.evaluate(BAD_START)
    assert out["refused"] == "parameter error_rate must be within 0..1, got 2.0", out
    assert out["changes"] == [] and out["runsAfter"] == out["runs"] and not out["running"], out
    r = start_run(page, workers=2, source="load", rate=200_000, duration_s=1)
    assert r["status"] == "closed" and int(r["produced"]) == int(r["logged"]) > 0
    # Nothing later either: the logger opened and closed the good run after anything the
    # refused start could have asked of it, so any run that start opened is announced by now.
    changes = page.evaluate("window.runChanges")
    runs_after = page.evaluate("window.vpslog.pipeline.listRuns()")
    assert {c["runId"] for c in changes} == {r["runId"]} and len(runs_after) == out["runs"] + 1, (changes, runs_after)
    assert not page.errors, page.errors


def test_parameters_edited_as_json_carry_over_to_the_fields(page, app_url):
    page.goto(app_url)
    fill_run(page, source="load", rate=200_000)
    toggle = page.locator("#params-as-json")
    toggle.check()
    page.fill("#params-json", page.input_value("#params-json").replace("200000", "1234"))
    toggle.uncheck()
    assert page.input_value("#param-fields [name=rate]") == "1234" and page.is_visible("#param-fields")
    # JSON the fields cannot hold keeps the JSON view and says why
    toggle.check()
    page.fill("#params-json", '{"rate": 5, "speed": 3}')
    toggle.click()  # an attempt to leave the JSON view, which it refuses
    assert toggle.is_checked() and page.is_visible("#params-json")
    assert page.eval_on_selector("#params-json", "el => el.validationMessage") == (
        "Parameters: speed is not a parameter of this source")
    assert page.input_value("#param-fields [name=rate]") == "1234"
    page.fill("#params-json", '{"rate": "fast"}')
    toggle.click()
    assert page.eval_on_selector("#params-json", "el => el.validationMessage") == (
        "Parameters: rate must be of type int") and toggle.is_checked()
    page.fill("#params-json", '{"vehicles": 7}')  # what JSON leaves out is the default
    toggle.uncheck()
    assert page.input_value("#param-fields [name=vehicles]") == "7"
    assert page.input_value("#param-fields [name=rate]") == "200000"


def test_sims_the_next_run_will_not_use_say_so(page, app_url):
    page.goto(app_url)
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    page.fill("input[name=workers]", "1")
    page.dispatch_event("input[name=workers]", "change")
    rows = page.locator("#sims li")
    assert "not used by the next run" in rows.nth(1).inner_text()
    assert "not used" not in rows.nth(0).inner_text()


KEY_AT_START = """() => { window.keyAtStart = new Promise((resolve) => {
  const pl = window.vpslog.pipeline;
  pl.addEventListener('run', function on(e) {
    if (e.detail.state === 'running') { pl.removeEventListener('run', on); resolve(pl.prepared); }
  });
}); }"""


# The key of the parts the sims hold, once they are those of this form's run.
PREPARED = """form => {
  const pl = window.vpslog.pipeline;
  if (!pl.ready || pl.ready.key !== pl.prepared) return false;
  const [workers, { source, params, seed }] = JSON.parse(pl.ready.sig);
  return workers === form.workers && source === form.source && seed === form.seed && params.rate === form.rate
    && pl.ready.key;
}"""


def test_start_uses_the_run_prepared_while_idle_and_never_a_stale_one(page, app_url):
    """While the form is idle the sims build the run it describes, so Start only
    opens it (time to first record); a form changed since is built anew at Start."""
    page.goto(app_url)
    form = {"workers": 2, "source": "load", "seed": 5, "rate": 100_000}
    fill_run(page, duration_s=1, **form)
    runs = []
    for seed in (5, 6):  # 5: as the page prepared it; 6: typed just before Start, so not yet prepared
        ready = wait_until(page, PREPARED, form, what=f"the page to prepare {form} ahead", timeout_ms=60_000)
        page.evaluate(KEY_AT_START)
        page.fill("input[name=seed]", str(seed))
        before = page.get_attribute("#run-result", "data-run-id")
        page.click("#start")
        r = wait_closed(page, before)
        manifest = page.evaluate("async id => JSON.parse(await (await window.vpslog.pipeline.getRun(id)).manifest.text())",
                                 r["runId"])
        runs.append((ready, page.evaluate("window.keyAtStart"), manifest["source"]["seed"], int(r["produced"]), int(r["logged"])))
    assert runs[0][:3] == (runs[0][0], runs[0][0], 5), runs  # started from the parts prepared ahead
    assert runs[1][1] > runs[1][0] and runs[1][2] == 6, runs  # never from the stale ones
    assert all(produced == logged > 0 for *_, produced, logged in runs), runs
    assert not page.errors, page.errors
