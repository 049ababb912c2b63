"""Driving the page as a user does: start a run, wait for it, download it."""

import json
import time
import zipfile
from pathlib import Path

import harness
from playwright.sync_api import TimeoutError as PlaywrightTimeout

BOOT_TIMEOUT_MS = 90_000


def fill_run(page, workers=2, duration_s=0, pace="max", source="traffic", seed=1, **params):
    """Fill the form as a user does; ``params`` go to the source's generated
    parameter form (``source`` None keeps the current choice, e.g. user code)."""
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    if source is not None:
        page.select_option("select[name=source]", source)
    page.fill("input[name=workers]", str(workers))
    page.fill("input[name=durationS]", str(duration_s))
    page.fill("input[name=seed]", str(seed))
    page.select_option("select[name=pace]", pace)
    for name, value in params.items():
        page.fill(f"#param-fields [name={name}]", str(value))


def choose_user_code(page, path=None, entry=None, expect="source "):
    """Pick 'Your own code', set the file through the real file input, wait for the install;
    returns the code status the page shows."""
    page.select_option("select[name=source]", "__user__")
    if entry is not None:
        page.fill("#code-entry", entry)
    if path is not None:
        page.set_input_files("#code-file", str(path))
    harness.wait_for(page, "t => document.querySelector('#code-status').textContent.includes(t)", 60,
                     f"the code status to say {expect!r}", arg=expect)
    return page.inner_text("#code-status")


def start_run(page, wait=True, **form):
    """Fill the form (see ``fill_run``), press Start and (``wait``) wait for the
    run to close; returns #run-result's data attributes (``wait=False``: a token
    for ``wait_closed``)."""
    fill_run(page, **form)
    before = page.get_attribute("#run-result", "data-run-id")
    page.click("#start")
    return wait_closed(page, before) if wait else before


def wait_closed(page, before, timeout_ms=60_000):
    """Wait until a run other than ``before`` shows its result; its data attributes."""
    harness.wait_for(page, "prev => { const el = document.querySelector('#run-result');"
                     " return !el.hidden && el.dataset.runId && el.dataset.runId !== prev; }", timeout_ms / 1000,
                     f"a run to close and show its result (the last one shown: {before})", arg=before)
    return page.eval_on_selector("#run-result", "el => ({...el.dataset})")


TIME_THE_RUN = """() => {
  window.runTime = {};
  document.querySelector('#start').addEventListener('click', () => { window.runTime.clicked ??= performance.now(); });
  window.vpslog.pipeline.addEventListener('run', (e) => {
    if (e.detail.state === 'closed') window.runTime.closed ??= performance.now();
  });
}"""


def time_next_run(page):
    """Call before Start: a function that gives the ms from the click on Start to that
    run's close, in the page's clock, once it has closed. Whatever a sim did for the
    run it did in between, however late its messages arrived."""
    page.evaluate(TIME_THE_RUN)
    return lambda: page.evaluate("window.runTime.closed - window.runTime.clicked")


def download_run(page, run_id, dest, timeout_ms=60_000):
    """Click Download in the run's row and unpack the archive as a user does; returns
    (events .bin path, manifest dict). Every stream's file is unpacked beside it."""
    row = page.locator(f"#runs tr[data-run-id='{run_id}']")
    row.wait_for()
    name = f"{run_id}.zip"
    try:
        with page.expect_download(lambda d: d.suggested_filename == name, timeout=timeout_ms) as archive:
            row.locator("button.download").click()
    except PlaywrightTimeout as e:
        raise AssertionError(f"waited {timeout_ms / 1000:g} s for the download {name}") from e
    archive.value.save_as(dest / name)
    with zipfile.ZipFile(dest / name) as z:
        z.extractall(dest)
    return dest / f"{run_id}.bin", json.loads((dest / f"{run_id}.manifest.json").read_text())


def verify_cli(bin_path):
    """`vpslog verify --json` as a user runs it; returns (exit code, report)."""
    out = harness.run_cli("verify", bin_path, "--json")
    return out.returncode, json.loads(out.stdout)


def assert_same_events(browser_bin, native_bin):
    """The browser and ``vpslog simulate`` logged the very same events: only the
    interleaving of the workers' buffers may differ."""
    import numpy as np

    from vpslog import record

    browser, native = (np.fromfile(p, dtype=record.numpy_dtype()) for p in (browser_bin, native_bin))
    assert len(browser) == len(native) > 0
    assert np.array_equal(np.sort(browser, order=["vehicle_id", "time_ms"], kind="stable"),
                          np.sort(native, order=["vehicle_id", "time_ms"], kind="stable"))


def stream_records(bin_path, manifest):
    """{stream name: its records as a numpy array} of a run whose files lie beside ``bin_path``."""
    import numpy as np

    from vpslog.manifest import manifest_streams

    return {e.name: np.fromfile(Path(bin_path).parent / e.file, dtype=e.layout.numpy_dtype())
            for e in manifest_streams(manifest)}


def assert_same_streams(browser_bin, native_bin):
    """Every stream of the two runs holds the very same records, from the same producers:
    only the interleaving of the workers' buffers may differ. Each stream is compared
    as a multiset of whole records (sorted on all its fields), and per producer by count."""
    import numpy as np

    from vpslog.manifest import load_manifest, manifest_streams, sibling_manifest

    runs = [(Path(p), load_manifest(sibling_manifest(Path(p)))) for p in (browser_bin, native_bin)]
    (browser, bm), (native, nm) = [(stream_records(p, m), m) for p, m in runs]
    assert list(browser) == list(native), (list(browser), list(native))
    for b, n in zip(manifest_streams(bm), manifest_streams(nm)):
        assert b.producers == n.producers, (b.name, b.producers, n.producers)
        assert b.layout == n.layout and len(browser[b.name]) == len(native[b.name]), b.name
        fields = list(b.layout.numpy_dtype().names)
        assert np.array_equal(np.sort(browser[b.name], order=fields), np.sort(native[b.name], order=fields)), \
            f"stream {b.name}: the browser's records differ from the native run's"


def fetch_cli(backend, run_id, dest):
    """`vpslog fetch` of a CLOUD run from the local S3 into ``dest``; returns the CompletedProcess."""
    return harness.run_cli("fetch", f"s3://{backend['bucket']}/runs/{run_id}", "--out", dest,
                           env=harness.s3_env(backend))


def wait_until(page, predicate, arg=None, what="the condition", timeout_ms=30_000):
    """Evaluate ``predicate`` in the page until it is truthy and return its value; it may
    be async (``page.wait_for_function`` does not await a promise: it takes one for true)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not (value := page.evaluate(predicate, arg)):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_ms} ms for {what}")
        page.wait_for_timeout(100)
    return value
