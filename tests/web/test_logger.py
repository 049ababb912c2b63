"""The logger worker against malformed input, through the page's real logger and real OPFS.

The test page plays a misbehaving producer: it attaches a MessageChannel to the
logger like the wiring does, then sends junk between valid chunks."""

import pytest

from vpslog import record

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(module_page):
    """One browser for the module: each test starts at a fresh page and uses its own run ids."""
    return module_page

GOOD_A = [(1, 2, 3, 1), (4, 5, 6, 2), (7, 8, 9, 3)]
GOOD_B = [(10, 11, 12, 1), (13, 14, 15, 2)]

# Bounded waits inside the page scripts: each failure names what was awaited.
WAITS = """
  const within = (p, what, ms = 20_000) => Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error(`no ${what} in ${ms} ms`)), ms))]);
  const until = async (cond, what, ms = 20_000) => {
    for (const end = performance.now() + ms; !cond();) {
      if (performance.now() > end) throw new Error(`no ${what} in ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };"""

SCRIPT = """async ([goodA, goodB]) => {
  const pl = window.vpslog.pipeline;""" + WAITS + """
  const errors = [];
  pl.addEventListener('error', (e) => errors.push(e.detail.message));
  const closed = new Promise((resolve) => pl.addEventListener('logclosed', (e) => resolve(e.detail.manifest)));
  const refusals = [];
  const refused = (p) => p.then(() => 'ok', (e) => refusals.push(e.message));

  const runId = 'test-malformed';
  await pl.openRun({ runId, mode: 'opfs', config: { test: true }, producers: [7] });
  await refused(pl.openRun({ runId: 'second', mode: 'opfs', producers: [1] }));
  await refused(pl.deleteRun(runId));

  const ch = new MessageChannel();
  pl.attachProducer(7, ch.port1);
  const stray = new MessageChannel();
  pl.attachProducer(99, stray.port1);
  const credits = [];
  ch.port2.onmessage = (e) => credits.push(e.data);

  const buf = (bytes) => new Uint8Array(bytes).buffer;
  const send = (m, transfer = []) => ch.port2.postMessage(m, transfer);
  send({ type: 'meta', meta: 'not an object' });
  send({ type: 'meta', meta: { run: { source: 'test', edges: [1, 2] }, producer: { part: 7 } } });
  send({ type: 'meta', meta: { run: {}, producer: {} } });
  send('hello');
  send({ type: 'chunk', stream: 0, seq: 0, buf: new ArrayBuffer(13) });
  send({ type: 'chunk', stream: 0, seq: 1, buf: [1, 2, 3] });
  send({ type: 'bogus' });
  const a = buf(goodA);
  send({ type: 'chunk', stream: 0, seq: 2, buf: a }, [a]);
  send({ type: 'chunk', stream: 0, seq: 3, buf: new ArrayBuffer(0) });
  const b = buf(goodB);
  send({ type: 'chunk', stream: 0, seq: 4, buf: b }, [b]);
  pl.logger.postMessage({ type: 'chunk', stream: 0, seq: 0, buf: buf(goodA) });  // data on the control channel
  send({ type: 'eof', records: 5, buffers: 2 });
  send({ type: 'chunk', stream: 0, seq: 5, buf: buf(goodA) });  // after eof
  // The port and the control channel are separate queues: a stop handled before the
  // producer's eof would close the port before the chunk after eof is seen.
  await until(() => errors.some((m) => m.includes('chunk after eof')), 'rejection of the chunk after eof');
  pl.stopLogger();
  const manifest = await within(closed, 'close');
  const { files: [bin] } = await pl.getRun(runId);
  const stored = Array.from(new Uint8Array(await bin.arrayBuffer()));
  await refused(pl.openRun({ runId, mode: 'opfs', producers: [1] }));
  await refused(pl.openRun({ runId: '../escape', mode: 'opfs', producers: [1] }));
  await refused(pl.openRun({ runId: 'taped', mode: 'tape', producers: [1] }));
  return { manifest, stored, errors, credits, refusals };
}"""


def test_malformed_messages_are_counted_and_never_reach_the_file(page, app_url):
    page.goto(app_url)
    out = page.evaluate(SCRIPT, [list(record.pack(GOOD_A)), list(record.pack(GOOD_B))])
    m = out["manifest"]
    # exactly the valid chunks, in order
    assert bytes(out["stored"]) == record.pack(GOOD_A + GOOD_B)
    assert m["records"] == 5 and m["bytes"] == 50 and m["status"] == "closed"
    assert m["producers"] == [
        {"id": 7, "records": 5, "buffers": 2, "reported_records": 5, "source": {"part": 7}, "stats": None}]
    assert m["source"] == {"source": "test", "edges": [1, 2]}
    assert m["errors"]["rejected_messages"] == 9
    joined = "\n".join(out["errors"])
    for expected in [
        "not an object (string)",
        "chunk of 13 bytes is not whole 10-byte records",
        "chunk without an ArrayBuffer",
        'unknown message type "bogus"',
        "empty events chunk",
        "chunk from an unknown port",
        "chunk after eof",
        "unknown or duplicate producer 99",
        "meta without {run, producer} objects",
        "meta sent twice",
    ]:
        assert expected in joined, expected
    # every chunk-typed message spent a credit and got it back, valid or not
    assert sum(c["n"] for c in out["credits"]) == 6
    assert out["refusals"] == [
        "run test-malformed is still open",
        "run test-malformed is being written by this tab; stop it first",
        "run test-malformed already exists; refusing to overwrite it",
        'invalid run id "../escape"',
        'mode "tape" is not available',
    ]


# Another context holds the manifest file open (a sync access handle) while the
# run closes: the close-time manifest write fails, and so does the one retry.
CLOSE_FAILS = """async ([good]) => {
  const pl = window.vpslog.pipeline;""" + WAITS + """
  const errors = [];
  pl.addEventListener('error', (e) => errors.push(e.detail.message));
  const closed = () => within(new Promise((resolve) => pl.addEventListener('logclosed', (e) => resolve(e.detail.manifest), { once: true })), 'close');
  // Takes the handle once the manifest describes the source: the logger's last
  // write of it before the close (open, then meta; checkpoints go to the progress
  // file). Its bytes are readable before that write has closed its own handle,
  // so a first try can still find the file open: try again until it is free.
  const holder = new Worker(URL.createObjectURL(new Blob([`let h = null; onmessage = async (e) => {
    const pause = () => new Promise((r) => setTimeout(r, 20));
    try {
      if (e.data === 'release') {
        if (!h) { postMessage('nothing is held'); return; }
        h.close();
        h = null;
        postMessage('released');
        return;
      }
      const file = await (await (await navigator.storage.getDirectory()).getDirectoryHandle('runs')).getFileHandle(e.data);
      const until = performance.now() + 10000;
      for (;;) {
        try {
          if (JSON.parse(await (await file.getFile()).text()).source) break;
        } catch {}
        if (performance.now() > until) throw new Error('the manifest never described the source');
        await pause();
      }
      for (;;) {
        try {
          h = await file.createSyncAccessHandle();
          break;
        } catch (err) {
          if (err.name !== 'NoModificationAllowedError' || performance.now() > until) throw err;
          await pause();
        }
      }
      postMessage('held');
    } catch (err) { postMessage(err.name + ': ' + err.message); }
  };`], { type: 'text/javascript' })));
  const ask = (m) => within(new Promise((resolve) => { holder.onmessage = (e) => resolve(e.data); holder.postMessage(m); }), m);

  const runId = 'test-close-fails';
  await pl.openRun({ runId, mode: 'opfs', config: { test: true }, producers: [7] });
  const ch = new MessageChannel();
  pl.attachProducer(7, ch.port1);
  ch.port2.postMessage({ type: 'meta', meta: { run: { source: 'test' }, producer: { part: 7 } } });
  const a = new Uint8Array(good).buffer;
  ch.port2.postMessage({ type: 'chunk', stream: 0, seq: 0, buf: a }, [a]);
  ch.port2.postMessage({ type: 'eof', records: 5, buffers: 1 });
  const held = await ask(`${runId}.manifest.json`);
  let whenClosed = closed();
  pl.stopLogger();
  const manifest = await whenClosed;

  // the run has ended: the next one opens and closes
  await pl.openRun({ runId: 'test-after-failed-close', mode: 'opfs', config: { test: true }, producers: [1] });
  const next = new MessageChannel();
  pl.attachProducer(1, next.port1);
  next.port2.postMessage({ type: 'eof', records: 0, buffers: 0 });
  whenClosed = closed();
  pl.stopLogger();
  const nextStatus = (await whenClosed).status;
  const released = await ask('release');
  return { held, released, manifest, errors, nextStatus };
}"""

RECOVERED = """async (runId) => {
  const until = performance.now() + 20_000;
  for (;;) {
    const r = (await window.vpslog.pipeline.listRuns()).find((x) => x.runId === runId);
    if (r && r.status !== 'open') {
      const { files: [bin], manifest } = await window.vpslog.pipeline.getRun(runId);
      return { row: r, manifest: JSON.parse(await manifest.text()), stored: Array.from(new Uint8Array(await bin.arrayBuffer())) };
    }
    if (performance.now() > until) throw new Error(`run ${runId} is still ${r?.status} after 20 s`);
    await new Promise((res) => setTimeout(res, 100));
  }
}"""


def test_a_close_that_fails_ends_the_run_keeps_its_records_and_is_repaired(page, app_url):
    page.goto(app_url)
    good = record.pack(GOOD_A + GOOD_B)
    out = page.evaluate(CLOSE_FAILS, [list(good)])
    assert (out["held"], out["released"], out["nextStatus"]) == ("held", "released", "closed")
    m = out["manifest"]  # what the page was told: every record stored, the close failed
    assert m["status"] == "error" and m["records"] == 5 and m["producers"][0]["records"] == 5
    assert m["errors"]["storage"].startswith("writing the manifest: ")
    shown = "\n".join(out["errors"])
    assert "closing run test-close-fails failed (writing the manifest: " in shown, shown
    assert "run test-close-fails stays open in storage until the next recovery repairs it" in shown, shown
    # once the file is free, the next logger of the origin repairs the run from what was
    # stored, with the close's exact counts and its cause (a checkpoint written after the close)
    page.reload()
    got = page.evaluate(RECOVERED, "test-close-fails")
    assert bytes(got["stored"]) == good
    r = got["manifest"]
    assert r["status"] == "recovered" and r["records"] == 5 and r["producers"][0]["records"] == 5
    assert r["recovery"]["cause"].startswith("its tab could not close it (writing the manifest: ")
    assert r["recovery"]["last_checkpoint_at"] >= m["closed_at"] and r["recovery"]["unattributed_records"] == 0


# Producer 3 finishes, 4 sends records but never its eof, 5 never even attaches.
DRAIN_TIMEOUT = """async ([good, timeoutMs]) => {
  const pl = window.vpslog.pipeline;""" + WAITS + """
  const errors = [];
  pl.addEventListener('error', (e) => errors.push(e.detail.message));
  const refusals = [];
  for (const bad of [0, -5, 1.5, '100', 3_600_000]) {
    await pl.openRun({ runId: 'test-bad-drain', mode: 'opfs', producers: [1], drainTimeoutMs: bad })
      .then(() => refusals.push('opened'), (e) => refusals.push(e.message));
  }
  const runId = 'test-drain-timeout';
  await pl.openRun({ runId, mode: 'opfs', config: { test: true }, producers: [3, 4, 5], drainTimeoutMs: timeoutMs });
  const port = (id) => {
    const ch = new MessageChannel();
    pl.attachProducer(id, ch.port1);
    return ch.port2;
  };
  const [three, four] = [port(3), port(4)];
  const chunk = () => new Uint8Array(good).buffer;
  for (const p of [three, four]) {
    const buf = chunk();
    p.postMessage({ type: 'chunk', stream: 0, seq: 0, buf }, [buf]);
  }
  three.postMessage({ type: 'eof', records: 5, buffers: 1 });
  const closed = within(new Promise((resolve) => pl.addEventListener('logclosed', (e) => resolve(e.detail.manifest))),
    'close', 20_000 + timeoutMs);
  pl.stopLogger();
  const manifest = await closed;
  const { files: [bin] } = await pl.getRun(runId);
  return { manifest, errors, refusals, storedBytes: bin.size, runs: await pl.listRuns() };
}"""


def test_a_stop_ends_the_run_after_the_drain_timeout_naming_the_producers_that_never_finished(page, app_url):
    page.goto(app_url)
    timeout_ms = 1000
    out = page.evaluate(DRAIN_TIMEOUT, [list(record.pack(GOOD_A + GOOD_B)), timeout_ms])
    assert out["refusals"] == [f"drainTimeoutMs must be a whole number of ms, 1–600000, got {v}"
                               for v in ("0", "-5", "1.5", '"100"', "3600000")]
    assert "test-bad-drain" not in [r["runId"] for r in out["runs"]]
    expected = f"drain timed out after {timeout_ms} ms waiting for producer(s) 4, 5"
    assert expected in out["errors"], out["errors"]
    m = out["manifest"]
    assert expected in m["errors"]["messages"]
    assert m["status"] == "error"  # not whole: two producers never said where they ended
    # what the producers sent is kept; only producer 3 said where it ended
    assert m["records"] == 10 and out["storedBytes"] == 100
    assert [(p["id"], p["records"], p["reported_records"]) for p in m["producers"]] == [(3, 5, 5), (4, 5, None), (5, 0, None)]


# Producer 1 logs two streams; 2 declares other streams than the run's; 3 sends what no
# stream of the run can hold. The run's streams come with its open, as the sims' prepare gives them.
STREAMS = """async ([streams, badOpens, events, fcd]) => {
  const pl = window.vpslog.pipeline;""" + WAITS + """
  const errors = [];
  pl.addEventListener('error', (e) => errors.push(e.detail.message));
  const refusals = [];
  for (const s of badOpens) await pl.openRun({ runId: 'test-bad-streams', mode: 'opfs', producers: [1], streams: s })
    .then(() => refusals.push('opened'), (e) => refusals.push(e.message));
  const runId = 'test-streams';
  await pl.openRun({ runId, mode: 'opfs', config: { test: true }, producers: [1, 2, 3], streams });
  const port = (id) => {
    const ch = new MessageChannel();
    pl.attachProducer(id, ch.port1);
    return ch.port2;
  };
  const send = (p, stream, bytes, seq) => { const buf = new Uint8Array(bytes).buffer; p.postMessage({ type: 'chunk', stream, seq, buf }, [buf]); };
  const [one, two, three] = [port(1), port(2), port(3)];
  one.postMessage({ type: 'meta', meta: { run: { source: 'test', streams }, producer: { part: 1 } } });
  send(one, 1, fcd.slice(0, 24), 0);
  send(one, 0, events, 1);
  send(one, 1, fcd.slice(24), 2);
  one.postMessage({ type: 'eof', records: 5 + fcd.length / 12, streams: [5, fcd.length / 12], buffers: 3 });
  two.postMessage({ type: 'meta', meta: { run: { source: 'test', streams: streams.slice(0, 1) }, producer: { part: 2 } } });
  send(two, 0, events, 0);
  two.postMessage({ type: 'eof', records: 5, buffers: 1 });
  send(three, 5, events, 0);
  send(three, 1, events, 1);  // 50 bytes: not whole 12-byte fcd records
  three.postMessage({ type: 'eof', records: 0, streams: [0, 0], buffers: 2 });
  const closed = within(new Promise((resolve) => pl.addEventListener('logclosed', (e) => resolve(e.detail.manifest))), 'close');
  await until(() => errors.filter((m) => m.includes('producer 3')).length >= 2, 'the rejections of producer 3');
  pl.stopLogger();
  const manifest = await closed;
  const got = await pl.getRun(runId);
  const files = [];
  for (const f of got.files) files.push({ name: f.name, bytes: Array.from(new Uint8Array(await f.arrayBuffer())) });
  const row = (await pl.listRuns()).find((r) => r.runId === runId);
  return { manifest, files, errors, refusals, row };
}"""


def test_a_run_logs_each_stream_to_its_own_file_and_refuses_what_no_stream_holds(page, app_url):
    import crc32c

    from vpslog import layout

    fcd = layout.resolve("fcd", [("time_ms", "uint32"), ("vehicle", "uint32"), ("speed", "float32")])
    fcd_bytes = b"".join(fcd.struct.pack(t, 70_000 + t, t / 4) for t in range(7))  # 7 records, 84 bytes
    events = record.pack(GOOD_A + GOOD_B)
    streams = [layout.EVENTS.to_json(), fcd.to_json()]
    shifted = fcd.to_json() | {"record_size": 13}
    bad_opens = [[fcd.to_json()], [layout.EVENTS.to_json(), shifted], [layout.EVENTS.to_json(), fcd.to_json(), fcd.to_json()]]
    page.goto(app_url)
    out = page.evaluate(STREAMS, [streams, bad_opens, list(events), list(fcd_bytes)])
    assert out["refusals"] == [
        "open needs the run's streams in index order, events first (docs/streams.md), got [fcd]",
        "stream fcd: recorded offsets or record size are not the packed layout of its fields",
        "stream fcd is declared twice",
    ]
    # one file per stream, events first and unchanged in shape; producer 2's records never stored
    assert [f["name"] for f in out["files"]] == ["test-streams.bin", "test-streams.fcd.bin"]
    assert bytes(out["files"][0]["bytes"]) == events and bytes(out["files"][1]["bytes"]) == fcd_bytes
    m = out["manifest"]
    assert m["manifest_version"] == 2 and m["status"] == "error"  # a refused producer: the run is not whole
    assert (m["records"], m["bytes"], m["checksum"]["value"]) == (5, 50, f"{crc32c.crc32c(events):08x}")
    ev, fc = m["streams"]
    assert ev["layout"] == layout.EVENTS.to_json() and fc["layout"] == fcd.to_json()
    assert (ev["records"], ev["producers"], ev["dropped_records"]) == (5, {"1": 5, "2": 5, "3": 0}, 5)
    assert (fc["records"], fc["bytes"], fc["producers"], fc["dropped_records"]) == (7, 84, {"1": 7, "2": 0, "3": 0}, 0)
    assert fc["checksum"] == {"algorithm": "crc32c", "value": f"{crc32c.crc32c(fcd_bytes):08x}"} and fc["file"] == "test-streams.fcd.bin"
    assert [p.get("refused") is not None for p in m["producers"]] == [False, True, False]
    shown = "\n".join(out["errors"])
    for expected in ["producer 2 is refused, its records are dropped: it declares the streams [events], the run has [events, fcd]",
                     'chunk for stream 5: the run has streams 0–1 (events, fcd)',
                     "fcd chunk of 50 bytes is not whole 12-byte records"]:
        assert expected in shown, expected
    assert out["row"]["records"] == 12 and out["row"]["bytes"] == 50 + 84 and out["row"]["streams"] == 2
