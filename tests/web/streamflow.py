"""A CLOUD run of several streams driven straight through the page's logger, as
test_logger does for OPFS (no Python sims: the page plays the producers), and how
to check that each fetched stream file is exactly what was sent."""

import numpy as np

import harness
from vpslog import layout

FCD = layout.resolve("fcd", [("time_ms", "uint32"), ("vehicle", "uint32"), ("x", "float32"), ("y", "float32"),
                             ("speed", "float32"), ("lane", "uint8")])  # 21 bytes: 195 records a buffer
SIGNALS = layout.resolve("signals", [("time_ms", "uint32"), ("phase", "uint8")])  # 5 bytes: 819 a buffer
STREAMS = [layout.EVENTS.to_json(), FCD.to_json(), SIGNALS.to_json()]

# A CLOUD run of the events and two declared streams, straight through the logger: the
# page plays two producers (as test_logger does), each honouring its credits as a sim
# does and sending, stream after stream in turn, chunks of 16 whole buffers, each chunk
# filled by chunk_bytes() from (producer, stream, its number in that stream). With `stop`
# false the producers send no eof and the run stays open (a tab about to die).
STREAMS_RUN = """async ([streams, chunks, retry, apiToken, stop]) => {
  const pl = window.vpslog.pipeline;
  const auth = apiToken ? { Authorization: `Bearer ${apiToken}` } : {};
  const run = await (await fetch(`${pl.api}/runs`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...auth }, body: '{}' })).json();
  window.__maxMemory = 0;
  pl.addEventListener('stats', (e) => { window.__maxMemory = Math.max(window.__maxMemory, e.detail.bytesInMemory ?? 0); });
  window.__result = null;
  pl.addEventListener('logclosed', function on(e) {
    if (e.detail.manifest.run_id === run.runId) { pl.removeEventListener('logclosed', on); window.__result = e.detail; }
  });
  await pl.openRun({ runId: run.runId, mode: 'cloud', config: { test: true }, producers: [1, 2], streams, cloud: { api: pl.api, run, retry } });
  const fill = (p, s, n, bytes) => {
    const u = new Uint8Array(bytes);
    for (let j = 0; j < bytes; j++) u[j] = (j * 31 + (j >> 8) + n * 7 + p * 101 + s * 13) & 0xff;
    new DataView(u.buffer).setUint32(0, p * 1e6 + s * 1e5 + n, true);
    return u.buffer;
  };
  const produce = (p) => new Promise((resolve) => {
    const ch = new MessageChannel();
    pl.attachProducer(p, ch.port1);
    const port = ch.port2;
    const plan = [];
    for (let n = 0; n < Math.max(...chunks); n++) streams.forEach((l, s) => n < chunks[s] && plan.push([s, n]));
    const counts = streams.map(() => 0);
    let credits = 64;
    let seq = 0;
    const pump = () => {
      while (plan.length && credits >= 16) {
        const [s, n] = plan.shift();
        const buf = fill(p, s, n, 16 * streams[s].records_per_buffer * streams[s].record_size);
        credits -= 16;
        counts[s] += buf.byteLength / streams[s].record_size;
        port.postMessage({ type: 'chunk', stream: s, seq, buf }, [buf]);
        seq += 16;
      }
      if (!plan.length && credits !== null) {
        credits = null;
        if (stop) port.postMessage({ type: 'eof', records: counts.reduce((a, x) => a + x, 0), streams: counts, buffers: seq });
        resolve();
      }
    };
    port.onmessage = (e) => { if (e.data.type === 'credit' && credits !== null) { credits += e.data.n; pump(); } };
    port.postMessage({ type: 'meta', meta: { run: { source: 'test', streams }, producer: { part: p } } });
    pump();
  });
  await Promise.all([produce(1), produce(2)]);
  if (stop) pl.stopLogger();
  return run.runId;
}"""

# What dlq/ holds now, by entry name.
DLQ_NAMES = """async () => {
  const names = [];
  for await (const [n] of (await (await navigator.storage.getDirectory()).getDirectoryHandle('dlq', { create: true })).entries()) names.push(n);
  return names.sort();
}"""


def chunk_bytes(p, s, n, size):
    """The chunk STREAMS_RUN's producer `p` sends as its `n`-th of stream `s`."""
    j = np.arange(size, dtype=np.int64)
    u = ((j * 31 + (j >> 8) + n * 7 + p * 101 + s * 13) & 0xFF).astype(np.uint8).tobytes()
    return int(p * 1e6 + s * 1e5 + n).to_bytes(4, "little") + u[4:]


def check_stream_file(path, s, layout, chunks=None):
    """The stream's file is exactly what both producers sent of it (`chunks` each), or with
    None a prefix of it, which may end inside a chunk: every chunk whole, each producer's in
    the order sent (the two producers' chunks may interleave). Returns the bytes checked."""
    size = 16 * layout["records_per_buffer"] * layout["record_size"]
    data = path.read_bytes()
    if chunks is not None:
        assert len(data) == 2 * chunks * size, (path.name, len(data))
    got = {1: [], 2: []}
    for at in range(0, len(data), size):
        tag = int.from_bytes(data[at:at + 4], "little")
        p, n = tag // 1_000_000, tag % 100_000
        piece = data[at:at + size]
        assert tag // 100_000 % 10 == s and piece == chunk_bytes(p, s, n, size)[:len(piece)], (path.name, at)
        got[p].append(n)
    for p, ns in got.items():
        assert ns == list(range(len(ns) if chunks is None else chunks)), (path.name, p, ns)
    return len(data)


def run(page, backend, chunks, retry=None):
    """STREAMS_RUN of STREAMS, `chunks[s]` chunks of stream s from each producer, run to its
    close: (run id, the closed run as the page was told of it)."""
    run_id = page.evaluate(STREAMS_RUN, [STREAMS, chunks, retry, backend["api_token"], True])
    harness.wait_for(page, "() => window.__result", 120, "the run to close")
    return run_id, page.evaluate("window.__result")
