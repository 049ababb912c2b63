"""A model written in JavaScript logs through the JS producer API (workers/sim/jspart.js)
in a real sim worker: every stream's file holds exactly the records the same model
produces outside the browser, and a bad value ends the model with its stream and field named."""

import json
import subprocess

import pytest
from pageflow import BOOT_TIMEOUT_MS, download_run

from harness import REPO

pytestmark = pytest.mark.browser
PLATOON = REPO / "examples/platoon.js"
PARAMS = {"duration_s": 120, "vehicles": 30}
SEED = 7

START = """async ([spec, params, seed]) => {
  const pl = window.vpslog.pipeline;
  const closed = new Promise((resolve) => pl.addEventListener('logclosed', (e) => resolve(e.detail.manifest), { once: true }));
  const runId = await pl.start({ workers: 1, source: { source: spec, params, seed }, pace: 'max', durationS: 0, mode: 'opfs' });
  return { runId, manifest: await closed };
}"""

# logs two good follow records, then one whose gap is not a number
BAD_MODEL = """
export default class Bad {
  static name = 'bad';
  static streams = [{ name: 'follow', fields: [['time_ms', 'uint32'], ['vehicle', 'uint32'], ['gap_m', 'float32']] }];
  *run(log) {
    log.follow(0, 1, 10.5);
    log.enter(0, 1, 2);
    yield;
    log.follow(100, 1, 9.25);
    log.follow(200, 1, 'near');
    yield;
  }
}"""


@pytest.fixture(scope="module")
def page(module_page):
    """One browser for the module: each test starts at a fresh page."""
    return module_page


def native(model, params, seed):
    out = subprocess.run(["node", REPO / "tests/web/run_js_model.mjs", model, json.dumps(params), str(seed)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def open_page(page, app_url):
    page.goto(app_url)
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)


def test_a_js_model_logs_every_stream_exactly_as_it_runs_outside_the_browser(page, app_url, tmp_path):
    want = native(PLATOON, PARAMS, SEED)
    assert want["streams"] == ["events", "follow"] and want["error"] is None
    open_page(page, app_url)
    got = page.evaluate(START, [f"js:/@fs{PLATOON}", PARAMS, SEED])
    m = got["manifest"]
    assert m["status"] == "closed", m["errors"]
    assert [s["name"] for s in m["streams"]] == ["events", "follow"]
    assert m["source"]["source"] == "platoon" and m["source"]["params"]["vehicles"] == 30
    page.wait_for_selector(f"#runs tr[data-run-id='{got['runId']}']")
    bin_path, manifest = download_run(page, got["runId"], tmp_path)
    assert bin_path.read_bytes().hex() == want["hex"][0]
    assert (tmp_path / f"{got['runId']}.follow.bin").read_bytes().hex() == want["hex"][1]
    follow = manifest["streams"][1]
    assert follow["records"] == len(want["hex"][1]) // 2 // 24 > 0 and follow["dropped_records"] == 0


def test_a_bad_value_from_a_js_model_names_its_stream_and_field_and_keeps_what_came_before(page, app_url):
    open_page(page, app_url)
    url = page.evaluate("code => URL.createObjectURL(new Blob([code], { type: 'text/javascript' }))", BAD_MODEL)
    got = page.evaluate(START, [f"js:{url}", {}, 1])
    m = got["manifest"]
    assert m["status"] == "error"
    assert "stream follow, field gap_m: near is not a number" in m["producers"][0]["error"]
    assert [s["records"] for s in m["streams"]] == [1, 2]  # the enter and the two good follow records
