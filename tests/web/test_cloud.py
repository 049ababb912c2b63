"""CLOUD mode end to end: real headless Chromium, the real logger, real HTTP to a
local S3 (moto) through the verifying gateway, faults injected there. In every
case the records in the bucket, reassembled by `vpslog fetch` and checked by
`vpslog verify`, are exactly the records the sim workers reported producing."""

import json
import re
import urllib.request

import crc32c
import polars as pl
import pytest
import streamflow
import pageflow
from pageflow import BOOT_TIMEOUT_MS, assert_same_events, fetch_cli

import harness
from vpslog import part_encoding
from vpslog.backend.runs import token_id
from vpslog.backend.settings import Settings
from vpslog.store import CATALOGUE_KEY


pytestmark = pytest.mark.browser
PART = 5 * 1024 * 1024

START = """async ([seconds, retry, apiToken]) => {
  const pl = window.vpslog.pipeline;
  window.__maxMemory = 0;
  pl.addEventListener('stats', (e) => { window.__maxMemory = Math.max(window.__maxMemory, e.detail.bytesInMemory ?? 0); });
  const done = new Promise((resolve) => pl.addEventListener('run', function on(e) {
    if (e.detail.state === 'closed') { pl.removeEventListener('run', on); resolve(e.detail); }
  }));
  window.__closed = done.then((d) => { window.__result = d; });
  return pl.start({ mode: 'cloud', workers: 2, pace: 'realtime', durationS: seconds, cloud: retry ? { retry } : undefined, apiToken,
                    source: { source: 'load', params: { rate: 500000, vehicles: 20000, edges: 4000, error_rate: 0.001 } } });
}"""


@pytest.fixture(autouse=True)
def no_faults(backend):
    harness.set_faults(backend)
    yield
    harness.set_faults(backend)


def open_app(page, app_url):
    page.goto(app_url)
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)


def start(page, app_url, backend, seconds=2.5, retry=None, faults=None):
    """Boot the page, then (so that outages are timed from the run, not the boot) set faults and start."""
    open_app(page, app_url)
    if faults:
        harness.set_faults(backend, faults)
    return page.evaluate(START, [seconds, retry, backend["api_token"]])


def wait_closed(page, timeout_s=120):
    harness.wait_for(page, "() => window.__result", timeout_s, "the run to close")
    return page.evaluate("window.__result")


def wait_until(page, js, timeout_s=90):
    harness.wait_for(page, js, timeout_s, js)


def check_exact(result, report):
    assert report["records"] == result["produced"] == result["manifest"]["records"] > 0
    assert len(result["manifest"]["parts"]) >= 3  # the run spans several 5 MiB parts


def test_clean_run_spans_several_parts(page, app_url, backend, tmp_path):
    run_id = start(page, app_url, backend)
    r = wait_closed(page)
    if r["published"] == "queued":
        # On a starved machine the uploads fall behind the sims: a sealed part with no upload
        # slot free goes to the DLQ (by design, memory stays bounded) and is replayed at once.
        # Never because a PUT failed: nothing was retried.
        assert page.evaluate("window.vpslog.stats.retries") == 0
        wait_until(page, "() => window.vpslog.stats.dlqEntries === 0")
    check_exact(r, harness.fetch_verified(backend, run_id, tmp_path))
    parts = r["manifest"]["parts"]
    assert all(p["bytes"] == PART for p in parts[:-1]) and 0 < parts[-1]["bytes"] <= PART
    stats = harness.fault_stats(backend)["stats"]
    assert stats["puts_ok"] == len(parts) + 1 and stats["signature_rejected"] == 0
    # memory: the part being filled, one waiting and three in flight at most
    assert 0 < page.evaluate("window.__maxMemory") <= 5 * PART


@pytest.mark.parametrize("faults, counter", [
    ({"put_fail_rate": 0.3, "seed": 1}, "put_failed_503"),       # 30 % of PUTs fail with 503
    ({"store_then_fail_rate": 0.3, "seed": 2, "store_then_fail_for": ["/fcd/part-000001.bin"]}, "stored_then_500"),  # stored, yet the client sees 500
], ids=["503s", "store-then-500"])
def test_failing_puts_are_retried_and_never_counted_twice(page, app_url, backend, tmp_path, faults, counter):
    harness.set_faults(backend, **faults)
    run_id = start(page, app_url, backend)
    r = wait_closed(page)
    wait_until(page, "() => window.vpslog.stats.dlqEntries === 0")
    check_exact(r, harness.fetch_verified(backend, run_id, tmp_path))
    stats = harness.fault_stats(backend)["stats"]
    assert stats[counter] > 0
    assert page.evaluate("window.vpslog.stats.retries") > 0
    assert page.evaluate("window.vpslog.stats.quarantined") == 0
    if counter == "stored_then_500":
        # the retries found their part already stored (write-once: 412) and had it confirmed
        assert stats["precondition_failed"] > 0
        assert any(e["action"] == "confirm" and e["run"] == run_id and e["status"] == 200 for e in harness.audit_lines(backend))


def test_endpoint_refusing_connections_for_10_s_mid_run(page, app_url, backend, tmp_path):
    run_id = start(page, app_url, backend, seconds=0)  # until stopped
    # down once the first part is in the bucket; stopped once live uploads have met the outage
    wait_until(page, "() => window.vpslog.stats?.partsUploaded >= 1")
    harness.set_faults(backend, refuse_for_s=10)
    wait_until(page, "() => window.vpslog.stats.retries > 0")
    page.evaluate("window.vpslog.pipeline.stop()")
    r = wait_closed(page)
    wait_until(page, "() => window.vpslog.stats.dlqEntries === 0")
    check_exact(r, harness.fetch_verified(backend, run_id, tmp_path))
    assert harness.fault_stats(backend)["stats"]["refused"] > 0


def test_outage_longer_than_the_retry_budget_goes_to_the_dlq_and_replays(page, app_url, backend, tmp_path):
    # down from the start of the run until the endpoint is brought back below
    run_id = start(page, app_url, backend, retry={"maxElapsedMs": 2000}, faults={"refuse_for_s": 300})
    r = wait_closed(page)
    assert r["published"] == "queued"  # the manifest waits for its parts
    assert page.evaluate("window.vpslog.stats.dlqEntries") > 1
    harness.set_faults(backend)
    wait_until(page, "() => window.vpslog.stats.dlqEntries === 0")
    check_exact(r, harness.fetch_verified(backend, run_id, tmp_path))
    assert page.evaluate("window.vpslog.stats.replayed") == len(r["manifest"]["parts"]) + 1


def test_dlq_is_replayed_after_a_page_reload(page, app_url, backend, tmp_path):
    run_id = start(page, app_url, backend, retry={"maxElapsedMs": 1500}, faults={"refuse_for_s": 300})
    r = wait_closed(page)
    assert r["published"] == "queued"
    page.reload()
    wait_until(page, "() => window.vpslog.stats && window.vpslog.stats.dlqEntries === %d"
               % (len(r["manifest"]["parts"]) + 1))
    harness.set_faults(backend)  # the endpoint is back
    wait_until(page, "() => window.vpslog.stats.dlqEntries === 0")
    check_exact(r, harness.fetch_verified(backend, run_id, tmp_path))


PLANT = """async ([entries]) => {
  const root = await navigator.storage.getDirectory();
  const dlq = await root.getDirectoryHandle('dlq', { create: true });
  for (const [name, bytes, meta] of entries) {
    for (const [file, data] of [[`${name}.bin`, new Uint8Array(bytes)], [`${name}.json`, new TextEncoder().encode(JSON.stringify(meta))]]) {
      const w = await (await dlq.getFileHandle(file, { create: true })).createWritable();
      await w.write(data);
      await w.close();
    }
  }
  const q = {};
  for await (const [name, h] of (await root.getDirectoryHandle('quarantine', { create: true })).entries()) {
    q[name] = name.endsWith('.json') ? JSON.parse(await (await h.getFile()).text()).reason : (await h.getFile()).size;
  }
  return q;
}"""


def test_dlq_entries_replay_with_their_own_run_token_or_are_quarantined(page, app_url, backend):
    open_app(page, app_url)
    wait_until(page, "() => window.vpslog.stats")  # this logger has read its (empty) DLQ
    meta = {"kind": "part", "runId": "run-q", "records": 2, "attempts": 3, "lastError": "x", "createdAt": "2026-01-01T00:00:00Z"}
    good = [1] * 20
    crc = f"{crc32c.crc32c(bytes(good)):08x}"
    packed = part_encoding.encode(bytes(good), "shuffle-gzip")
    garbled = packed[:12] + bytes(len(packed) - 12)
    own = create_run(backend)  # a genuine token, but of another run than the entries claim
    mine = create_run(backend)  # the entry's own run, its token due for renewal
    page.evaluate(PLANT, [[
        ["run-q.part-000001", [1] * 13, {**meta, "part": 1, "bytes": 13, "crc32c": "00000000"}],
        # newer, so replayed later
        ["run-q.part-000002", good, {**meta, "part": 2, "bytes": 20, "crc32c": "00000000", "createdAt": "2026-01-02T00:00:00Z"}],
        ["run-q.part-000003", good, {**meta, "part": 3, "bytes": 20, "crc32c": crc, "createdAt": "2026-01-03T00:00:00Z"}],
        ["run-q.part-000004", good, {**meta, "part": 4, "bytes": 20, "crc32c": crc, "createdAt": "2026-01-04T00:00:00Z",
                                     "run": {**own, "runId": "run-q"}}],
        [f"{mine['runId']}.part-000001", good, {**meta, "runId": mine["runId"], "part": 1, "bytes": 20, "crc32c": crc,
                                                "createdAt": "2026-01-05T00:00:00Z", "run": {**mine, "renewAfter": 0}}],
        # stored as it would be uploaded, intact as stored, yet not the part's records
        ["run-q.part-000005", list(garbled), {**meta, "part": 5, "bytes": 20, "crc32c": crc, "encoding": "shuffle-gzip",
                                              "stored_bytes": len(garbled), "stored_crc32c": f"{crc32c.crc32c(garbled):08x}",
                                              "createdAt": "2026-01-06T00:00:00Z", "run": {**own, "runId": "run-q"}}],
    ]])
    page.reload()  # the logger counts the DLQ at start and replays it
    wait_until(page, "() => window.vpslog.stats && window.vpslog.stats.quarantined === 5 && window.vpslog.stats.replayed === 1")
    assert page.evaluate("window.vpslog.stats.dlqEntries") == 0
    q = page.evaluate(PLANT, [[]])
    assert q.pop("run-q.part-000005.json").startswith("cannot decode the shuffle-gzip part: not valid gzip data")
    assert q.pop("run-q.part-000005.bin") == len(garbled)
    assert {k: v for k, v in q.items() if k != "run-q.part-000004.json"} == {
        "run-q.part-000001.bin": 13, "run-q.part-000001.json": "size 13 is not a whole number of 10-byte records",
        "run-q.part-000002.bin": 20, "run-q.part-000002.json": "checksum mismatch",
        "run-q.part-000003.bin": 20, "run-q.part-000003.json": "no run token for this run",
        "run-q.part-000004.bin": 20,
    }
    assert "HTTP 403 run token is for another run" in q["run-q.part-000004.json"]
    assert harness.fault_stats(backend)["stats"]["puts_ok"] == 1
    assert not [k for k in bucket_keys(backend) if k.startswith("runs/run-q/")]
    assert f"runs/{mine['runId']}/part-000001.bin" in bucket_keys(backend)
    assert any(e["action"] == "renew" and e["status"] == 200 and e["token"] == token_id(mine["token"])
               for e in harness.audit_lines(backend))


def bucket_keys(backend):
    s3 = Settings(endpoint=backend["upstream"]).client()
    return [o["Key"] for o in s3.list_objects_v2(Bucket=backend["bucket"]).get("Contents", [])]


def create_run(backend):
    req = urllib.request.Request(f"{backend['api']}/runs", data=b"{}", method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {backend['api_token']}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def test_the_page_takes_the_api_token_keeps_it_and_never_puts_it_in_a_url(page, context, app_url, backend, tmp_path):
    sent = []
    context.on("request", lambda r: sent.append((r.url, r.headers.get("authorization"))))
    open_app(page, app_url)
    page.select_option("select[name=mode]", "cloud")
    page.select_option("select[name=source]", "load")
    page.select_option("select[name=pace]", "realtime")
    page.fill("input[name=durationS]", "1")
    for token, shown in [("", "requires an API token"), ("not-the-token-of-this-server", "refused this API token")]:
        page.fill("input[name=apiToken]", token)
        page.click("#start")
        page.wait_for_selector(f"#form-error:has-text('{shown}')", timeout=10_000)
    page.fill("input[name=apiToken]", backend["api_token"])
    page.dispatch_event("input[name=apiToken]", "change")
    page.click("#start")
    page.wait_for_selector("#run-result:not([hidden])", timeout=120_000)
    result = page.eval_on_selector("#run-result", "el => ({...el.dataset})")
    assert result["published"] == "uploaded" and result["status"] == "closed"
    # where the records are, as the CLOUD sink says it (CloudSink.whereStored)
    shown = page.inner_text("#run-result")
    assert re.search(rf"\d+ parts? under runs/{result['runId']}/ in the bucket \(manifest uploaded: run complete\)", shown), shown
    report = harness.fetch_verified(backend, result["runId"], tmp_path)
    assert report["records"] == int(result["produced"]) == int(result["logged"]) > 0
    # sent as a bearer header to POST /api/runs only, never in a URL
    assert [a for u, a in sent if u.endswith("/api/runs")][-1] == f"Bearer {backend['api_token']}"
    assert not [u for u, _ in sent if backend["api_token"] in u]
    assert {u for u, a in sent if a} == {app_url + "api/runs"}
    page.reload()
    assert page.input_value("input[name=apiToken]") == backend["api_token"]  # kept for the origin


# A deterministic traffic run to its end (no duration), its parts stored as `encoding`.
TRAFFIC = """async ([encoding, apiToken]) => {
  const pl = window.vpslog.pipeline;
  const done = new Promise((resolve) => pl.addEventListener('run', function on(e) {
    if (e.detail.state === 'closed') { pl.removeEventListener('run', on); resolve(e.detail); }
  }));
  await pl.start({ mode: 'cloud', workers: 2, pace: 'max', durationS: 0, cloud: { encoding }, apiToken,
                   source: { source: 'traffic', params: { vehicles: 40000, grid: 24 }, seed: 5 } });
  const d = await done;
  return { ...d, stats: window.vpslog.stats };
}"""


def analyze_cli(backend, run_id, out_dir, *options):
    out = harness.run_cli("analyze", f"s3://{backend['bucket']}/runs/{run_id}", "--json", "--out", out_dir, *options,
                          env=harness.s3_env(backend))
    assert out.returncode == 0, out.stderr
    return {k: v for k, v in json.loads(out.stdout).items() if k not in ("run_id", "location", "outputs")}


def test_compressed_parts_round_trip_to_the_raw_runs_results(page, app_url, backend, tmp_path):
    open_app(page, app_url)
    runs = {enc: page.evaluate(TRAFFIC, [enc, backend["api_token"]]) for enc in ("raw", "shuffle-gzip")}
    raw, packed = runs["raw"], runs["shuffle-gzip"]
    for r in runs.values():
        assert r["published"] == "uploaded" and r["manifest"]["status"] == "closed"
        # the logger told the server, which read the manifest from the bucket and catalogued the run
        assert r["stats"]["catalogue"] == {"catalogued": True, "status": "closed", "problem": None}
    assert raw["manifest"]["records"] == packed["manifest"]["records"] > PART // 10  # two parts or more
    assert {p["encoding"] for p in raw["manifest"]["parts"]} == {"raw"}
    assert {p["encoding"] for p in packed["manifest"]["parts"]} == {"shuffle-gzip"}
    sent = sum(p["stored_bytes"] for p in packed["manifest"]["parts"])
    assert sent < packed["manifest"]["bytes"] / 2 and packed["stats"]["storedBytesUploaded"] == sent
    assert packed["stats"]["bytesUploaded"] == packed["manifest"]["bytes"]

    verified = {enc: harness.run_cli("verify", f"s3://{backend['bucket']}/runs/{r['runId']}", "--json",
                                     env=harness.s3_env(backend)) for enc, r in runs.items()}
    assert all(v.returncode == 0 for v in verified.values()), [v.stdout + v.stderr for v in verified.values()]
    assert json.loads(verified["raw"].stdout)["records"] == json.loads(verified["shuffle-gzip"].stdout)["records"]
    results = {enc: analyze_cli(backend, r["runId"], tmp_path / enc) for enc, r in runs.items()}
    assert results["raw"] == results["shuffle-gzip"] and results["raw"]["traversals"] > 100_000
    # on Dask (an embedded LocalCluster of 2 worker processes, which read the browser's parts
    # from the bucket), the same results and tables as in this process
    assert analyze_cli(backend, packed["runId"], tmp_path / "dask", "--workers", "2") == results["shuffle-gzip"]
    for table in ("edges", "intervals"):
        assert pl.read_parquet(tmp_path / "dask" / f"{table}.parquet").equals(
            pl.read_parquet(tmp_path / "shuffle-gzip" / f"{table}.parquet")), table
    bins = {}
    for enc, r in runs.items():
        out = fetch_cli(backend, r["runId"], tmp_path / f"fetched-{enc}")
        assert out.returncode == 0, out.stderr
        bins[enc] = tmp_path / f"fetched-{enc}" / f"{r['runId']}.bin"
    assert_same_events(bins["raw"], bins["shuffle-gzip"])  # only the two sims' interleaving may differ

    s3 = Settings(endpoint=backend["upstream"]).client()
    listed = json.loads(s3.get_object(Bucket=backend["bucket"], Key=CATALOGUE_KEY)["Body"].read())["runs"]
    assert listed[packed["runId"]]["records"] == packed["manifest"]["records"] and raw["runId"] in listed
    assert not page.errors, page.errors


# Why each entry waits in the DLQ: {name: lastError}.
DLQ_WHY = """async () => {
  const out = {};
  for await (const [n, h] of (await (await navigator.storage.getDirectory()).getDirectoryHandle('dlq', { create: true })).entries()) {
    if (n.endsWith('.json')) out[n] = JSON.parse(await (await h.getFile()).text()).lastError;
  }
  return out;
}"""


@pytest.mark.parametrize("faults", ["503s", "store-then-500", "outage"])
def test_every_stream_of_a_cloud_run_reaches_the_bucket_through_faults_and_the_dlq(page, app_url, backend, tmp_path, faults):
    chunks = [90, 50, 3]  # per producer: events ~11 MiB (3 parts), fcd ~6 MiB (2 parts), signals 1 short part
    page.goto(app_url)
    wait_until(page, "() => window.vpslog.stats")  # this logger has read its DLQ
    if faults != "outage":
        harness.set_faults(backend, **({"put_fail_rate": 0.3, "seed": 3} if faults == "503s" else {"store_then_fail_rate": 0.3, "seed": 2, "store_then_fail_for": ["/fcd/part-000001.bin"]}))
        run_id, r = streamflow.run(page, backend, chunks)
    else:  # down from the start of the run until the endpoint is brought back below
        harness.set_faults(backend, refuse_for_s=300)
        run_id, r = streamflow.run(page, backend, chunks, retry={"maxElapsedMs": 2000})
    m = r["manifest"]
    parts = {s["name"]: s["parts"] for s in m["streams"]}
    assert [len(parts[n]) for n in ("events", "fcd", "signals")] == [3, 2, 1] and m["status"] == "closed"
    for name, ps in parts.items():
        folder = f"runs/{run_id}/" if name == "events" else f"runs/{run_id}/{name}/"
        assert [p["key"] for p in ps] == [f"{folder}part-{i:06d}.bin" for i in range(1, len(ps) + 1)]
    assert [p["bytes"] for p in parts["fcd"]][0] == 5_242_860  # whole 21-byte records
    n_parts = sum(len(ps) for ps in parts.values())
    if faults != "outage":
        gw = harness.fault_stats(backend)["stats"]
        # a part that found no upload slot free (a busy machine) waits in the DLQ by design; a retry
        # that ran out never does here (the default budget outlasts 30 % of failures)
        assert set(page.evaluate(DLQ_WHY).values()) <= {"no upload slot free", "parts still in the dead-letter queue"}
        assert gw["put_failed_503" if faults == "503s" else "stored_then_500"] > 0
        assert page.evaluate("window.vpslog.stats.retries") > 0
        if faults == "store-then-500":
            # retries found their part stored (write-once: 412), and the server confirmed it under its stream's key
            confirmed = {e.get("stream") for e in harness.audit_lines(backend) if e["action"] == "confirm" and e["run"] == run_id and e["status"] == 200}
            assert gw["precondition_failed"] > 0 and "fcd" in confirmed, confirmed
    else:
        assert r["published"] == "queued"  # the manifest waits for every stream's parts
        queued = page.evaluate(streamflow.DLQ_NAMES)
        # each entry names its stream, so parts of two streams never share one
        assert {f"{run_id}.part-000001.bin", f"{run_id}.fcd.part-000001.bin", f"{run_id}.signals.part-000001.bin",
                f"{run_id}.manifest.bin"} <= set(queued), queued
        assert len(queued) == 2 * (n_parts + 1)
        harness.set_faults(backend)
    wait_until(page, "() => window.vpslog.stats.dlqEntries === 0")
    assert page.evaluate("window.vpslog.stats.quarantined") == 0
    if faults == "outage":
        assert page.evaluate("window.vpslog.stats.replayed") == n_parts + 1
    # memory for the run as a whole: S parts filling, S sealed waiting, one encoding, three in flight
    assert 0 < page.evaluate("window.__maxMemory") <= (2 * len(streamflow.STREAMS) + 4) * PART

    out = fetch_cli(backend, run_id, tmp_path)
    assert out.returncode == 0, out.stderr
    files = [tmp_path / f"{run_id}.bin", tmp_path / f"{run_id}.fcd.bin", tmp_path / f"{run_id}.signals.bin"]
    assert out.stdout.split() == [str(f) for f in files] + [str(tmp_path / f"{run_id}.manifest.json")]
    for s, (f, lay, n) in enumerate(zip(files, streamflow.STREAMS, chunks)):
        streamflow.check_stream_file(f, s, lay, n)
    assert json.loads((tmp_path / f"{run_id}.manifest.json").read_text()) == m
    assert not page.errors, page.errors


# Whether the open run's last checkpoint lists parts 1..n[i] of each stream i as safe
# (what recovery keeps). The logger rewrites the file in place: a read may land mid-write.
CHECKPOINTED = """async ([runId, n]) => {
  try {
    const runs = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs');
    const progress = JSON.parse(await (await (await runs.getFileHandle(`${runId}.progress.json`)).getFile()).text());
    return n.every((k, i) => new Set(progress.streams[i].parts.map((p) => p.part)).size >= k);
  } catch {
    return false;
  }
}"""


def test_an_interrupted_cloud_run_of_several_streams_is_recovered_stream_by_stream(page, app_url, backend, tmp_path):
    page.goto(app_url)
    wait_until(page, "() => window.vpslog.stats")
    # everything sent, no eof: the run is still open when the tab reloads; each stream's filling part dies with it
    run_id = page.evaluate(streamflow.STREAMS_RUN, [streamflow.STREAMS, [90, 50, 3], None, backend["api_token"], False])
    pageflow.wait_until(page, CHECKPOINTED, [run_id, [2, 1, 0]], "a checkpoint with events parts 1-2 and fcd part 1")
    page.reload()  # the next start finds the orphan and recovers it through the DLQ
    wait_until(page, "() => window.vpslog.stats && window.vpslog.stats.replayed >= 1 && window.vpslog.stats.dlqEntries === 0")
    out = fetch_cli(backend, run_id, tmp_path)
    assert out.returncode == 0, out.stderr
    m = json.loads((tmp_path / f"{run_id}.manifest.json").read_text())
    assert m["status"] == "recovered" and m["parts"] == m["streams"][0]["parts"]
    assert [len(s["parts"]) for s in m["streams"]] == [2, 1, 0]
    assert [s["bytes"] for s in m["streams"]] == [2 * PART, 5_242_860, 0] and m["streams"][2]["checksum"] is None
    files = [tmp_path / f"{run_id}.bin", tmp_path / f"{run_id}.fcd.bin", tmp_path / f"{run_id}.signals.bin"]
    # each stream's file is a prefix of what its producers sent, and the CRC32C through its last safe part
    assert [streamflow.check_stream_file(f, s, lay) for s, (f, lay) in enumerate(zip(files, streamflow.STREAMS))] == [2 * PART, 5_242_860, 0]
    for f, s in zip(files, m["streams"]):
        assert s["checksum"] is None or s["checksum"]["value"] == f"{crc32c.crc32c(f.read_bytes()):08x}"
