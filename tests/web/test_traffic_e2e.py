"""A traffic run in the browser, end to end: 2 Python sim workers simulate their
parts of the grid, the run is downloaded, and `vpslog analyze` recovers the
ground-truth BPR parameters from the .bin and its manifest alone."""

import json

import jsonschema
import pytest
from harness import wait_for
from pageflow import assert_same_events, download_run, fill_run, start_run, time_next_run, verify_cli, wait_closed

from vpslog import record
from vpslog.manifest import schema

pytestmark = pytest.mark.browser


def test_traffic_run_downloads_and_analyze_recovers_bpr(page, app_url, tmp_path, run_cli):
    page.goto(app_url)
    r = start_run(page, workers=2, vehicles=20_000, grid=24, alpha=0.3, beta=3, seed=7)
    assert r["status"] == "closed" and int(r["produced"]) == int(r["logged"])
    bin_path, manifest = download_run(page, r["runId"], tmp_path)
    jsonschema.validate(manifest, schema())
    assert manifest["source"]["ground_truth"] == {"alpha": 0.3, "beta": 3, "spread": 0.1}
    assert [p["stats"]["vehicles"] for p in manifest["producers"]] == [[0, 10_000], [10_000, 20_000]]

    code, report = verify_cli(bin_path)
    assert code == 0, report

    a = json.loads(run_cli("analyze", bin_path, "--json", check=True).stdout)
    # traversals rebuilt from the log = what the sim workers reported (page and manifest)
    assert a["traversals"] == int(r["traversals"]) == a["reported_traversals"] > 100_000
    assert a["unpaired_enters"] == a["unpaired_exits"] == 0
    assert abs(a["alpha"] / 0.3 - 1) < 0.05 and abs(a["beta"] / 3 - 1) < 0.05, a

    # Pyodide in the browser and CPython simulate the very same events: only the
    # interleaving of the two workers' buffers differs.
    out = run_cli("simulate", "--out", tmp_path / "cli", "--workers", 2, "--seed", 7,
                  "-p", "vehicles=20000", "-p", "grid=24", "-p", "alpha=0.3", "-p", "beta=3", check=True)
    assert_same_events(bin_path, out.stdout.split()[0])
    assert not page.errors, page.errors


def test_a_real_time_traffic_run_follows_the_clock(page, app_url, tmp_path):
    """At real-time pace a sparse run (the form's default traffic: about 250 s of
    simulated departures) logs what the clock has reached, while it runs; Stop
    after 6 s keeps what the model had logged, about one step past the clock."""
    page.goto(app_url)
    fill_run(page, workers=2, duration_s=6, pace="realtime", source="traffic")
    run_ms = time_next_run(page)
    before = page.get_attribute("#run-result", "data-run-id")
    page.click("#start")
    # records reach the logger while the run goes on, not all at its end (the first after ~2 s:
    # the first departure, then a second's wait for a partial buffer)
    wait_for(page, "() => window.vpslog.stats?.state === 'logging' && window.vpslog.stats.records > 0", 20,
             "records to reach the logger while the run goes on")
    mid = page.evaluate("window.vpslog.stats.records")
    r = wait_closed(page, before)
    bin_path, manifest = download_run(page, r["runId"], tmp_path)
    times = [t for t, *_ in record.unpack(bin_path.read_bytes())]
    assert manifest["status"] == "closed" and int(r["produced"]) == int(r["logged"]) == len(times) > mid > 0
    # the run holds ~250 s of departures: at most the time the sims ran (within Start to close, so
    # however late Stop reached them), plus the model's last step (1 s of simulated time from its
    # first event, which may lie past a quiet gap)
    assert max(times) <= run_ms() + 3_000, (max(times), run_ms())
