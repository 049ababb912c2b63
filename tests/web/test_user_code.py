"""A user's own model in the page: chosen through the real file input, a URL or
drag-and-drop, installed with micropip in every sim worker, run, stored,
analysed, and the same code run natively by `vpslog simulate --source`.
One browser (persistent profile, cross-origin isolated) serves the module."""

import hashlib
import io
import json
import shutil
import zipfile

import pytest
from harness import REPO, wait_for
from pageflow import assert_same_events, choose_user_code, download_run, start_run, wait_closed

pytestmark = pytest.mark.browser
EXAMPLES = REPO / "examples"
SERVED = REPO / "build" / "public" / "test-models"


@pytest.fixture(scope="module")
def page(module_page):
    module_page.wait_for_selector("#start:not([disabled])", timeout=90_000)
    return module_page


@pytest.fixture(scope="module", autouse=True)
def served_models():
    SERVED.mkdir(parents=True, exist_ok=True)
    yield SERVED
    shutil.rmtree(SERVED, ignore_errors=True)


def status_text(page):
    return page.inner_text("#code-status")


def test_the_page_is_cross_origin_isolated_so_stop_can_interrupt(page):
    assert page.evaluate("crossOriginIsolated") is True
    assert page.evaluate("window.vpslog.pipeline.sims.length > 0"
                         " && window.vpslog.pipeline.sims.every(s => s.interrupt instanceof Int32Array)")


def test_a_py_file_runs_in_the_browser_exactly_as_natively(page, tmp_path, run_cli):
    text = choose_user_code(page, EXAMPLES / "ring_road.py", entry="")
    assert "ring_road.py 1.0" in text and "source ring-road 1.0" in text
    r = start_run(page, source=None, workers=2, seed=4, vehicles=40, minutes=4)
    assert r["status"] == "closed" and int(r["produced"]) == int(r["logged"]) > 1000
    bin_path, manifest = download_run(page, r["runId"], tmp_path)
    code = manifest["source"]["code"]
    assert code == {"file": "ring_road.py", "version": "1.0",
                    "sha256": hashlib.sha256((EXAMPLES / "ring_road.py").read_bytes()).hexdigest()}
    assert manifest["source"]["source"] == "ring-road" and manifest["source"]["params"]["vehicles"] == 40
    assert run_cli("verify", bin_path).returncode == 0
    a = json.loads(run_cli("analyze", bin_path, "--json", check=True).stdout)
    assert a["traversals"] > 0 and a["unpaired_enters"] == a["unpaired_exits"] == 0
    out = run_cli("simulate", "--out", tmp_path / "cli", "--source", EXAMPLES / "ring_road.py", "--workers", 2,
                  "--seed", 4, "-p", "vehicles=40", "-p", "minutes=4", check=True)
    assert_same_events(bin_path, out.stdout.split()[0])
    assert json.loads((tmp_path / "cli" / out.stdout.split()[1]).read_text())["source"]["code"] == code
    # a reload keeps the chosen code (OPFS) and installs it again
    page.reload()
    page.wait_for_function("document.querySelector('#code-status').textContent.includes('source ring-road')",
                           timeout=90_000)
    assert page.input_value("select[name=source]") == "__user__"
    assert not page.errors, page.errors


def example_wheel(dest):
    """examples/bpr_links.py packaged as a wheel, the way a user's build tool would."""
    name = "bpr_links_example-1.0-py3-none-any.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(EXAMPLES / "bpr_links.py", "bpr_links.py")
        z.writestr("bpr_links_example-1.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: bpr-links-example\nVersion: 1.0\nRequires-Dist: vpslog\n")
        z.writestr("bpr_links_example-1.0.dist-info/WHEEL",
                   "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("bpr_links_example-1.0.dist-info/RECORD", "")
    (dest / name).write_bytes(buf.getvalue())
    return name


def test_a_wheel_from_a_url_fits_its_ground_truth(page, tmp_path, run_cli, served_models):
    name = example_wheel(served_models)
    page.select_option("select[name=source]", "__user__")
    page.fill("#code-entry", "")
    page.fill("#code-url", f"/test-models/{name}")
    page.click("#code-url-load")
    page.wait_for_function("document.querySelector('#code-status').textContent.includes('source bpr-links')",
                           timeout=60_000)
    assert page.input_value("#code-entry") == "bpr_links"
    r = start_run(page, source=None, workers=2, seed=2, links=120, minutes=20, alpha=0.4, beta=2.5)
    assert r["status"] == "closed" and int(r["produced"]) == int(r["logged"])
    bin_path, manifest = download_run(page, r["runId"], tmp_path)
    assert manifest["source"]["code"]["file"] == name and manifest["source"]["code"]["version"] == "1.0"
    a = json.loads(run_cli("analyze", bin_path, "--json", check=True).stdout)
    assert abs(a["alpha"] / 0.4 - 1) < 0.05 and abs(a["beta"] / 2.5 - 1) < 0.05, a


BAD = {
    "syntax_slip.py": ("import vpslog\nclass M(vpslog.Source)\n    pass\n", "", "syntax_slip.py is not valid Python: line 2"),
    "wants_numpy.py": ("import numpy\nimport vpslog\n", "", "imports numpy, which the browser does not have"),
    "no_entry.py": ("import vpslog\nclass M(vpslog.Source):\n    def run(self, log):\n        yield\n",
                    "no_entry:Missing", "no_entry has no 'Missing'"),
    "broken-1.0-py3-none-any.whl": (b"this is no zip", "broken", "is not a valid wheel"),
}


@pytest.mark.parametrize("file", list(BAD))
def test_bad_code_gets_one_clear_message_and_cannot_start(page, tmp_path, file):
    body, entry, message = BAD[file]
    path = tmp_path / file
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    text = choose_user_code(page, path, entry=entry, expect=message)
    assert "Traceback" not in text
    assert page.is_hidden("#params")
    page.click("#start")
    shown = page.inner_text("#form-error")
    assert shown.startswith("Your code cannot run: ") and message in shown, shown


def test_dropping_a_file_on_the_page_installs_it(page, tmp_path):
    page.select_option("select[name=source]", "__user__")
    page.fill("#code-entry", "")
    body = (EXAMPLES / "ring_road.py").read_text()
    page.evaluate("""body => {
        const dt = new DataTransfer();
        dt.items.add(new File([body], 'ring_road.py', { type: 'text/x-python' }));
        document.querySelector('#drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true }));
    }""", body)
    page.wait_for_function("document.querySelector('#code-status').textContent.includes('source ring-road')",
                           timeout=60_000)


FAILS = """import vpslog

class Fails(vpslog.Source):
    params = {"fail_at": 5}

    def run(self, log):
        for step in range(100):
            for i in range(1000):
                log.enter(step * 1000 + i, self.part.worker, i % 50)
            if step == self.params["fail_at"]:
                raise RuntimeError(f"sensor {step} went dark")
            yield
"""


def test_an_exception_in_the_model_closes_the_run_with_its_traceback(page, tmp_path):
    (tmp_path / "fails.py").write_text(FAILS)
    choose_user_code(page, tmp_path / "fails.py", entry="fails:Fails")
    r = start_run(page, source=None, workers=2, fail_at=3)
    assert r["status"] == "error"
    # everything logged before the exception (steps 0..3, 1000 each) is stored, nothing else
    assert int(r["produced"]) == int(r["logged"]) == 2 * 4000
    shown = page.inner_text("#run-result")
    assert "the model failed after 4,000 records" in shown and "RuntimeError: sensor 3 went dark" in shown
    bin_path, manifest = download_run(page, r["runId"], tmp_path)
    assert manifest["status"] == "error" and bin_path.stat().st_size == 8000 * 10
    for p in manifest["producers"]:
        assert 'line 11, in run' in p["error"] and "RuntimeError: sensor 3 went dark" in p["error"]


# A slow disk: each file the page opens for writing stays open until the test lets it close.
HOLD_PAGE_WRITES = """() => {
  const proto = FileSystemFileHandle.prototype;
  const create = proto.createWritable;
  let open;
  const gate = new Promise((r) => { open = r; });
  window.heldWrites = { open: 0, release: () => { proto.createWritable = create; open(); } };
  proto.createWritable = async function (...args) {
    const w = await create.apply(this, args);
    window.heldWrites.open++;
    const close = w.close.bind(w);
    w.close = () => gate.then(close);
    return w;
  };
}"""


SAVED_CHOICE = """async () => {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('code');
  return JSON.parse(await (await (await dir.getFileHandle('current.json')).getFile()).text());
}"""


def test_code_chosen_while_the_last_choice_is_being_saved_is_saved_after_it(page, tmp_path):
    """The page keeps the chosen code in OPFS (code/). A file chosen while the last
    choice (here a new entry point) is still being saved must wait for that save, or
    emptying the folder meets its swap file (listed, then locked or gone); and the
    late save must not bring the last choice back."""
    choose_user_code(page, EXAMPLES / "ring_road.py", entry="")
    (tmp_path / "fails.py").write_text(FAILS)
    page.evaluate(HOLD_PAGE_WRITES)
    try:
        page.fill("#code-entry", "ring_road:RingRoad")
        page.dispatch_event("#code-entry", "change")  # declared, then saved
        wait_for(page, "() => window.heldWrites.open > 0", 30, "the new entry point's save to open its file")
        page.fill("#code-entry", "fails:Fails")
        page.set_input_files("#code-file", str(tmp_path / "fails.py"))
    finally:
        page.evaluate("window.heldWrites.release()")
    wait_for(page, "() => { const el = document.querySelector('#code-status');"
             " return el.textContent.includes('source ') || el.classList.contains('error'); }", 60,
             "fails.py to be installed or refused")
    assert "source Fails" in status_text(page), status_text(page)
    assert page.evaluate(SAVED_CHOICE) == {"file": "fails.py", "entry": "fails:Fails"}


FAR_AHEAD = """import vpslog

class FarAhead(vpslog.Source):
    def run(self, log):
        for i in range(1000):
            log.enter(3_600_000 + i, self.part.worker, 1)  # an hour ahead of the clock
        raise RuntimeError("the clock went wrong")
        yield
"""


def test_a_model_that_fails_at_real_time_pace_ends_its_run_at_once(page, tmp_path):
    """Its records are not due for an hour, but a failed model's part is over:
    the run closes with them and the traceback, without waiting for the clock."""
    (tmp_path / "far_ahead.py").write_text(FAR_AHEAD)
    choose_user_code(page, tmp_path / "far_ahead.py", entry="far_ahead")
    before = start_run(page, source=None, workers=2, pace="realtime", wait=False)
    try:
        r = wait_closed(page, before, timeout_ms=30_000)
    except Exception:
        page.click("#stop")  # the next tests need the sims
        raise
    assert r["status"] == "error" and int(r["produced"]) == int(r["logged"]) == 2000
    assert "RuntimeError: the clock went wrong" in page.inner_text("#run-result")


def test_new_code_replaces_the_old_at_once_so_start_cannot_run_the_old_code(page, tmp_path):
    (tmp_path / "fails.py").write_text(FAILS)
    choose_user_code(page, tmp_path / "fails.py", entry="fails:Fails")
    # drop another file and press Start in the same task, before it could be read
    status, error = page.evaluate("""body => {
        const dt = new DataTransfer();
        dt.items.add(new File([body], 'runaway.py', { type: 'text/x-python' }));
        document.querySelector('#drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true }));
        document.querySelector('#start').click();
        return [document.querySelector('#code-status').textContent, document.querySelector('#form-error').textContent];
    }""", RUNAWAY)
    assert status == "Reading runaway.py…" and error == "Your code is still loading; Start once it is ready"
    page.wait_for_function("document.querySelector('#code-status').textContent.includes('source Runaway')",
                           timeout=60_000)
    assert page.evaluate("window.vpslog.pipeline.run") is None
    page.wait_for_selector("#form-error", state="hidden")  # the refusal was about the code that was not ready


INSTALL_THEN_PREPARE = """async (body) => {
  const pl = window.vpslog.pipeline;
  const installs = pl.sims.map(() => 0);
  const prepares = pl.sims.map(() => 0);
  const posts = pl.sims.map((s, i) => {
    const post = s.requests.post;
    // an install request is the one that carries the code's bytes; a prepare names its source
    // (the page may prepare its own form's run meanwhile: that one is not counted)
    s.requests.post = (m, t) => {
      if (m.bytes instanceof ArrayBuffer) installs[i]++;
      if (m.source?.source === 'twice') prepares[i]++;
      post(m, t);
    };
    return post;
  });
  try {
    const installing = pl.installCode('twice.py', new TextEncoder().encode(body).buffer);
    // the first sim has installed, the others are installing: a run is prepared now
    const deadline = performance.now() + 60_000;
    while (pl.code?.file !== 'twice.py' || !pl.code.info) {
      if (performance.now() > deadline) throw new Error('waited 60 s for the first sim to install twice.py');
      await Promise.race([installing, new Promise((r) => setTimeout(r, 0))]);
    }
    await pl.prepare({ workers: pl.sims.length, source: { source: 'twice', params: {}, seed: 1 } });
    await installing;
    return { installs, prepares };
  } finally {
    pl.sims.forEach((s, i) => { s.requests.post = posts[i]; });
  }
}"""


def test_a_run_prepared_while_code_installs_waits_for_that_install(page):
    """Preparing a run while the code is still installing in some sims must not
    start a second, concurrent micropip reinstall of it there."""
    body = RUNAWAY.replace("Runaway", "Twice")
    out = page.evaluate(INSTALL_THEN_PREPARE, body)
    sims = len(out["installs"])
    assert out == {"installs": [1] * sims, "prepares": [1] * sims} and sims >= 2, out


RUNAWAY = """import vpslog

class Runaway(vpslog.Source):
    def run(self, log):
        for step in range(3):
            log.enter(step, self.part.worker, 1)
            yield
        from js import BroadcastChannel  # tells the test this sim is in the endless step
        BroadcastChannel.new("runaway").postMessage(self.part.worker)
        x = 0
        while True:  # a step that never yields
            x += 1
"""

LISTEN_FOR_RUNAWAYS = """() => {
  window.runaways = new Set();
  window.runawayChannel = new BroadcastChannel('runaway');
  window.runawayChannel.onmessage = (e) => window.runaways.add(e.data);
}"""


def test_stop_interrupts_a_step_that_never_yields(page, tmp_path):
    (tmp_path / "runaway.py").write_text(RUNAWAY)
    choose_user_code(page, tmp_path / "runaway.py", entry="runaway")
    page.evaluate(LISTEN_FOR_RUNAWAYS)
    before = start_run(page, source=None, workers=2, wait=False)
    # Stop once both sims have logged their 3 records and are inside the endless step,
    # which only SIGINT can end (a Stop before that may interrupt a sim short of its records)
    wait_for(page, "() => window.runaways.size === 2", 30, "both sims to enter their endless step")
    page.click("#stop")
    r = wait_closed(page, before, timeout_ms=20_000)
    assert r["status"] == "closed" and int(r["produced"]) == int(r["logged"]) == 6
    assert "Stop interrupted a model step that did not yield in sim 0, 1" in page.inner_text("#run-result")


def test_code_restored_on_load_leaves_the_chosen_builtin_source_alone(page):
    """The saved code is installed again on every load; with a built-in source
    chosen, Start must still run that source (the form stays the built-in's)."""
    choose_user_code(page, EXAMPLES / "ring_road.py", entry="")  # the code the reload restores
    page.select_option("select[name=source]", "traffic")
    page.reload()
    page.wait_for_selector("#start:not([disabled])", timeout=90_000)
    wait_for(page, "() => document.querySelector('#code-status').textContent.includes('source ring-road')", 60,
             "the saved ring_road.py to be installed again after the reload")
    assert page.input_value("select[name=source]") == "traffic"
    assert page.is_visible("#params") and page.inner_text("#params-legend").startswith("Parameters of traffic")
    r = start_run(page, source=None, workers=1, vehicles=300)
    manifest = page.evaluate("async id => JSON.parse(await (await window.vpslog.pipeline.getRun(id)).manifest.text())",
                             r["runId"])
    assert r["status"] == "closed" and manifest["source"]["source"] == "traffic" and "code" not in manifest["source"]
