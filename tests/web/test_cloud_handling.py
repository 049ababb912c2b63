"""CLOUD mode, what the README promises about the answers a run gets and the
failures it meets: a 429 waited out as its Retry-After asks, a 4xx that is not
retried (and a run that then is not sealed incomplete), a manifest stored although
its answer was lost (409 for the sealed run, settled by the server's confirm), a
run token that expires during the run, a part the encoder fails on, and a download
asked for while a CLOUD run is being written. One browser for the module; the real
logger and the real API, moto behind the verifying gateway, which injects the
faults and counts what it saw. Every run is checked record for record."""

import base64

import crc32c
import pytest
import streamflow
from pageflow import BOOT_TIMEOUT_MS, verify_cli, wait_until

import harness
from vpslog import part_encoding
from vpslog.backend.runs import RunTokens, token_id
from vpslog.backend.settings import Settings

pytestmark = pytest.mark.browser
PART = 5 * 1024 * 1024

# A load run of 2 sims at `rate` events/s each (10 bytes an event), for `seconds` (0: until stopped).
RUN = """async ([seconds, rate, cloud, apiToken]) => {
  const pl = window.vpslog.pipeline;
  window.__result = null;
  pl.addEventListener('run', function on(e) {
    if (e.detail.state === 'closed') { pl.removeEventListener('run', on); window.__result = e.detail; }
  });
  return pl.start({ mode: 'cloud', workers: 2, pace: 'realtime', durationS: seconds, cloud, apiToken,
                    source: { source: 'load', params: { rate, vehicles: 20000, edges: 4000 } } });
}"""

# What quarantine/ holds of a run: {name: metadata (.json) or base64 payload (.bin)}.
QUARANTINED = """async (runId) => {
  const q = await (await navigator.storage.getDirectory()).getDirectoryHandle('quarantine', { create: true });
  const out = {};
  for await (const [name, h] of q.entries()) {
    if (!name.startsWith(`${runId}.`)) continue;
    const f = await h.getFile();
    out[name] = name.endsWith('.json') ? JSON.parse(await f.text())
      : await new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result.split(',')[1]); r.readAsDataURL(f); });
  }
  return out;
}"""


@pytest.fixture
def page(module_page):
    module_page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    harness.wait_for(module_page, "() => window.vpslog.stats", 30, "the logger's first stats (it has read its DLQ)")
    return module_page


@pytest.fixture(autouse=True)
def no_faults(backend):
    harness.set_faults(backend)
    yield
    harness.set_faults(backend)


def start(page, backend, seconds, rate=300_000, cloud=None):
    return page.evaluate(RUN, [seconds, rate, cloud, backend["api_token"]])


def wait_closed(page, timeout_s=120):
    harness.wait_for(page, "() => window.__result", timeout_s, "the run to close")
    return page.evaluate("window.__result")


def stats(page):
    return page.evaluate("window.vpslog.stats")


def wait_dlq_empty(page, timeout_s=60):
    harness.wait_for(page, "() => window.vpslog.stats.dlqEntries === 0", timeout_s, "the dead-letter queue to empty")


def run_audit(backend, run_id):
    return [e for e in harness.audit_lines(backend) if e.get("run") == run_id]


def bucket(backend):
    return Settings(endpoint=backend["upstream"]).client()


def bucket_keys(backend, run_id):
    listed = bucket(backend).list_objects_v2(Bucket=backend["bucket"], Prefix=f"runs/{run_id}/")
    return sorted(o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", []))


def test_a_429_is_waited_out_as_its_retry_after_asks_and_nothing_is_lost(page, backend, tmp_path):
    quarantined = stats(page)["quarantined"]
    harness.set_faults(backend, put_429_rate=0.3, retry_after_s=2, seed=1)  # seed 1: the first PUT gets one
    run_id = start(page, backend, seconds=2.5)
    r = wait_closed(page)
    wait_dlq_empty(page)
    assert stats(page)["quarantined"] == quarantined
    report = harness.fetch_verified(backend, run_id, tmp_path)
    assert report["records"] == r["produced"] == r["manifest"]["records"] > 0
    gw = harness.fault_stats(backend)["stats"]
    assert gw["put_429"] > 0
    assert gw["put_before_retry_after"] == 0  # no PUT of a key came back before its Retry-After
    assert gw["puts_ok"] == len(r["manifest"]["parts"]) + 1  # each part and the manifest stored once
    assert stats(page)["retries"] > 0


def test_a_part_refused_with_403_is_not_retried_and_its_run_is_not_sealed_without_it(page, backend, tmp_path):
    quarantined = stats(page)["quarantined"]
    harness.set_faults(backend, put_status_for={"/part-000002.bin": 403})
    run_id = start(page, backend, seconds=2.5)
    r = wait_closed(page)
    parts = r["manifest"]["parts"]
    assert len(parts) >= 3 and r["published"] == "queued"  # the manifest waits for part 2
    assert stats(page)["retries"] == 0
    wait_dlq_empty(page)
    s = stats(page)
    assert s["quarantined"] == quarantined + 2, s  # part 2, once replayed, then its manifest
    assert s["dlqError"].startswith(f"quarantined {run_id}.manifest: part 2 of this run is quarantined")

    q = page.evaluate(QUARANTINED, run_id)
    part, manifest = q[f"{run_id}.part-000002.json"], q[f"{run_id}.manifest.json"]
    assert part["reason"] == "PUT 2: HTTP 403 Forbidden" and part["attempts"] <= 1  # not retried live
    # one PUT live (unless it went to the DLQ for want of a slot), one in the replay: no storm
    assert harness.fault_stats(backend)["stats"]["put_status_injected"] == part["attempts"] + 1
    assert manifest["reason"] == "part 2 of this run is quarantined: the run cannot be completed in the bucket"
    # the bucket holds every other part and no manifest: the run is not complete there
    assert bucket_keys(backend, run_id) == [f"part-{p['part']:06d}.bin" for p in parts if p["part"] != 2]

    # nothing is lost: the bucket's parts and the quarantined one are the run the quarantined manifest describes
    s3 = bucket(backend)
    body = bytearray()
    for p in parts:
        stored = (base64.b64decode(q[f"{run_id}.part-000002.bin"]) if p["part"] == 2 else
                  s3.get_object(Bucket=backend["bucket"], Key=p["key"])["Body"].read())
        records = part_encoding.decode(stored, p["encoding"], p["bytes"], p["key"])
        assert f"{crc32c.crc32c(records):08x}" == p["crc32c"]
        body += records
    (tmp_path / f"{run_id}.bin").write_bytes(body)
    (tmp_path / f"{run_id}.manifest.json").write_bytes(base64.b64decode(q[f"{run_id}.manifest.bin"]))
    code, report = verify_cli(tmp_path / f"{run_id}.bin")
    assert code == 0, report
    assert report["records"] == r["produced"] == r["manifest"]["records"]


def test_a_manifest_stored_but_answered_500_is_settled_by_the_409_of_its_sealed_run(page, backend, tmp_path):
    harness.set_faults(backend, store_then_fail_for=["/manifest.json"])
    run_id = start(page, backend, seconds=1)
    r = wait_closed(page)
    assert r["published"] == "uploaded"
    assert harness.fetch_verified(backend, run_id, tmp_path)["records"] == r["produced"] == r["manifest"]["records"] > 0
    assert harness.fault_stats(backend)["stats"]["stored_then_500"] == 1
    # the retry's presign found the run sealed (409); the server confirmed the stored manifest is this one
    manifest = [(e["action"], e["status"]) for e in run_audit(backend, run_id) if e["part"] == "manifest"]
    assert manifest == [("presign", 200), ("presign", 409), ("confirm", 200)]
    s = stats(page)
    assert s["retries"] == 1 and s["catalogue"] == {"catalogued": True, "status": "closed", "problem": None}


TOKEN_TTL_S = 6  # renewal is due at half-life: 3 s before the token expires, a margin even on a busy machine


# The run capability in the open run's checkpoint (runs/<runId>.progress.json), once one
# was written after the first token had expired.
CHECKPOINTED_TOKEN = """async ([runId, after]) => {
  const runs = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs');
  try {
    const p = JSON.parse(await (await (await runs.getFileHandle(`${runId}.progress.json`)).getFile()).text());
    return Date.parse(p.at) / 1000 > after ? p.run : null;
  } catch { return null; }  // not written yet, or being rewritten
}"""


def test_a_run_token_that_expires_during_the_run_is_renewed_and_the_run_completes(page, backend, tmp_path):
    # The server issues run tokens for a day. The capability the page receives is re-issued
    # with the server's own secret for TOKEN_TTL_S, as that VPSLOG_RUN_TOKEN_TTL_S would (its
    # settings allow 60 s at least): the run is stopped only once the token has expired, so
    # its last part and manifest are presigned after that.
    first = {}

    def short_lived(route):
        reply = route.fetch()
        run_id, _, owner, _ = reply.json()["token"].split(".")
        first.update(RunTokens(backend["run_secret"].encode(), TOKEN_TTL_S).issue(run_id, owner))
        route.fulfill(response=reply, json=first)

    page.route("**/api/runs", short_lived)
    try:
        run_id = start(page, backend, seconds=0, rate=100_000)
    finally:
        page.unroute("**/api/runs", short_lived)
    assert first["runId"] == run_id
    harness.wait_for(page, "(t) => Date.now() / 1000 > t", 30, "the first run token to expire", arg=first["expires"])
    # what recovery would publish the run with, were the tab to die now: the renewed capability
    checkpointed = wait_until(page, CHECKPOINTED_TOKEN, [run_id, first["expires"]], what="a checkpoint after the first token expired")
    assert checkpointed["token"] != first["token"] and checkpointed["expires"] > first["expires"], checkpointed
    page.evaluate("window.vpslog.pipeline.stop()")
    r = wait_closed(page)
    assert r["published"] == "uploaded"
    assert harness.fetch_verified(backend, run_id, tmp_path)["records"] == r["produced"] == r["manifest"]["records"] > 0

    audit = harness.audit_lines(backend)
    renewed = [e for e in audit if e["action"] == "renew" and e["token"] == token_id(first["token"])]
    assert [e["status"] for e in renewed] == [200]
    assert renewed[0]["t"] < first["expires"]
    mine = [e for e in audit if e.get("run") == run_id]
    late = [e for e in mine if e["action"] == "presign" and e["t"] > first["expires"]]
    assert late and {e["token"] for e in late}.isdisjoint({token_id(first["token"])})
    assert [e for e in mine if e["decision"] == "refused"] == []


# The logger's CompressionStream fails in the second part it encodes (as an encoder that
# runs out of memory would), mid-part; the others are the browser's own.
FAIL_SECOND_ENCODER = """() => {
  const Real = self.CompressionStream;
  self.__realCompressionStream = Real;
  let made = 0;
  self.CompressionStream = function (format) {
    if (++made !== 2) return new Real(format);
    let slices = 0;
    return new TransformStream({ transform(chunk, out) {
      if (++slices === 3) throw new Error('injected: the encoder failed');
      out.enqueue(chunk);
    } });
  };
}"""


def test_a_part_that_cannot_be_encoded_is_stored_raw(page, backend, tmp_path):
    logger = next(w for w in page.workers if "logger.worker" in w.url)
    logger.evaluate(FAIL_SECOND_ENCODER)
    try:
        run_id = start(page, backend, seconds=2.5, cloud={"encoding": "shuffle-gzip"})
        r = wait_closed(page)
    finally:
        logger.evaluate("() => { self.CompressionStream = self.__realCompressionStream; }")
    parts = r["manifest"]["parts"]
    assert len(parts) >= 3 and r["published"] == "uploaded"
    assert [p["encoding"] for p in parts] == ["shuffle-gzip", "raw"] + ["shuffle-gzip"] * (len(parts) - 2)
    raw = parts[1]
    assert raw["stored_bytes"] == raw["bytes"] == PART and raw["stored_crc32c"] == raw["crc32c"]
    head = bucket(backend).head_object(Bucket=backend["bucket"], Key=raw["key"])
    assert head["ContentLength"] == PART
    assert stats(page)["encodeError"] == "part 2 stored raw: injected: the encoder failed"
    assert harness.fetch_verified(backend, run_id, tmp_path)["records"] == r["produced"] == r["manifest"]["records"]


def test_a_cloud_run_being_written_cannot_be_downloaded(page, backend):
    run_id = start(page, backend, seconds=0, rate=20_000)
    try:
        refused = page.evaluate("(id) => window.vpslog.pipeline.getRun(id).then(() => 'handed over', (e) => e.message)", run_id)
        button = page.wait_for_selector(f"#runs tr[data-run-id='{run_id}'] button.download")
        shown = page.eval_on_selector(f"#runs tr[data-run-id='{run_id}'] td.status", "el => el.textContent")
        snapshots = page.evaluate("""async () => { const names = [];
          for await (const [n] of (await (await navigator.storage.getDirectory()).getDirectoryHandle('snapshots', { create: true })).entries()) names.push(n);
          return names; }""")
        # the page shows the CLOUD sink's own refusal (CloudSink.downloadRefusal), the one getRun gives
        assert (button.is_disabled(), button.get_attribute("title"), shown) == (True, refused, "open (being written here)")
    finally:
        page.evaluate("window.vpslog.pipeline.stop()")
        r = wait_closed(page)
    assert refused == f"run {run_id} is being uploaded to the bucket; fetch it from there (vpslog fetch) once it has closed"
    assert not [n for n in snapshots if n.startswith(run_id)]
    assert r["published"] == "uploaded" and r["manifest"]["records"] == r["produced"] > 0


def test_a_declared_streams_part_refused_for_good_keeps_the_runs_manifest_out_of_the_bucket(page, backend, tmp_path):
    quarantined = stats(page)["quarantined"]
    harness.set_faults(backend, put_status_for={"/fcd/part-000002.bin": 403})
    run_id, r = streamflow.run(page, backend, [10, 50, 3])
    streams = {s["name"]: s["parts"] for s in r["manifest"]["streams"]}
    # every events part is in the bucket, yet the manifest waits: it goes only after every stream's parts
    assert r["published"] == "queued" and len(streams["fcd"]) == 2
    assert r["delivery"]["partsUploaded"] == sum(len(p) for p in streams.values()) - 1
    wait_dlq_empty(page)
    s = stats(page)
    assert s["quarantined"] == quarantined + 2, s  # fcd's part 2, once replayed, then the manifest listing it
    q = page.evaluate(QUARANTINED, run_id)
    assert q[f"{run_id}.fcd.part-000002.json"]["reason"] == "PUT fcd/2: HTTP 403 Forbidden"
    assert q[f"{run_id}.fcd.part-000002.json"]["stream"] == "fcd" and q[f"{run_id}.fcd.part-000002.json"]["record_size"] == 21
    assert q[f"{run_id}.manifest.json"]["reason"] == "part fcd 2 of this run is quarantined: the run cannot be completed in the bucket"
    assert bucket_keys(backend, run_id) == ["part-000001.bin", "part-000001.bin", "part-000001.bin"]  # events, fcd, signals
    # nothing is lost: the bucket's parts and the quarantined one are the fcd stream the manifest describes
    s3 = bucket(backend)
    body = bytearray()
    for p in streams["fcd"]:
        stored = (base64.b64decode(q[f"{run_id}.fcd.part-000002.bin"]) if p["part"] == 2 else
                  s3.get_object(Bucket=backend["bucket"], Key=p["key"])["Body"].read())
        body += part_encoding.decode(stored, p["encoding"], p["bytes"], p["key"], 21)
    (tmp_path / "fcd.bin").write_bytes(body)
    streamflow.check_stream_file(tmp_path / "fcd.bin", 1, streamflow.STREAMS[1], 50)


# Two stream sinks of one run, opened as the logger opens them (one cloud options object),
# in the page: the capability, due for renewal, is renewed once and both see the new token.
# The events get a buffer of zeros, the other stream one of random bytes, which no encoding shrinks.
SHARED_TOKEN = """async ([workers, apiToken, streams]) => {
  const { CloudSink } = await import(`${workers}sinks/cloud.js`);
  const { DeadLetterQueue } = await import(`${workers}dlq.js`);
  const { fromJson } = await import(`${workers}layout.js`);
  const api = window.vpslog.pipeline.api;
  const run = await (await fetch(`${api}/runs`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiToken}` }, body: '{}' })).json();
  // a token renewed within the second it was issued in is the same token: wait for the next second
  const issuedAt = 2 * run.renewAfter - run.expires;
  while (Date.now() / 1000 < issuedAt + 1) await new Promise((r) => setTimeout(r, 50));
  const cloud = { api, run: { ...run, renewAfter: 0 } };
  const dlq = new DeadLetterQueue();
  const sinks = [];
  for (const l of streams) sinks.push(await CloudSink.open(run.runId, { cloud, dlq, layout: fromJson(l) }));
  for (let i = 0; i < 50 && sinks[1].checkpoint().run.token === run.token; i++) {
    for (const s of sinks) s.tick();
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const s of sinks) s.tick();
  sinks[0].append(new Uint8Array(sinks[0].layout.bufferBytes));
  sinks[1].append(crypto.getRandomValues(new Uint8Array(sinks[1].layout.bufferBytes)));
  for (const s of sinks) await s.close();
  const published = await CloudSink.publish({ run_id: run.runId, note: 'shared token test' }, sinks);
  const encodings = sinks.map((s) => s.parts.map((p) => p.encoding));
  return { first: run.token, runId: run.runId, tokens: sinks.map((s) => s.checkpoint().run.token), published, encodings };
}"""


def test_a_runs_stream_sinks_share_one_capability_renewed_once_and_store_raw_what_encoding_would_grow(page, app_url, backend):
    out = page.evaluate(SHARED_TOKEN, [f"{app_url}@fs{harness.REPO}/workers/", backend["api_token"], streamflow.STREAMS[:2]])
    assert out["published"] == "uploaded"
    assert len(set(out["tokens"])) == 1 and out["tokens"][0] != out["first"]
    audit = run_audit(backend, out["runId"])
    renews = [e["status"] for e in harness.audit_lines(backend) if e["action"] == "renew" and e["token"] == token_id(out["first"])]
    assert renews == [200]
    presigned = [(e.get("stream"), e["part"], e["token"]) for e in audit if e["action"] == "presign"]
    renewed = token_id(out["tokens"][0])
    assert presigned == [("events", 1, renewed), ("fcd", 1, renewed), (None, "manifest", renewed)]
    # an encoded part must fit the size its stream's part is presigned for: one the encoding grows is stored raw
    assert out["encodings"] == [["shuffle-gzip"], ["raw"]]
