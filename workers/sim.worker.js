// Sim worker: Python (Pyodide) runs an event source and packs its records;
// this file moves them. Whole buffers are copied out of the wasm heap into a
// fresh ArrayBuffer and transferred to the logger. At most CREDIT_WINDOW
// buffers are in flight: with no credit left the model is simply not stepped,
// so nothing is dropped and memory stays bounded.
import * as P from './protocol.js';
import { BUFFER_BYTES, RECORD_SIZE, FIELD } from './record.js';

const EDGE_OFFSET = FIELD.edge_id.offset;
const STATUS_OFFSET = FIELD.status.offset;

const MAX_BUFFERS_PER_CALL = 16;
const STATUS_MS = 250;
// Real-time pace: the model may run this far ahead of the wall clock.
const REALTIME_LEAD_MS = 50;
// how often a model ahead of the clock looks again: well under a frame of the 10 Hz view
const REALTIME_WAIT_MS = 20;
const USER_DIR = '/tmp/vpslog-user';

let pyodide = null;
let bridge = null;
let active = null; // the running producer's state
let micropipLoaded = false; // loaded on the first user-code install, not at boot
// {key, producerPy, meta}: this sim's part of the next run, built and described
// by SIM_PREPARE and taken by the SIM_START that names the same key.
let prepared = null;

function post(type, fields) {
  self.postMessage(P.msg(type, fields));
}

// A macrotask hop that is not clamped like setTimeout, so credit and stop
// messages are seen between batches without slowing the loop.
const hop = new MessageChannel();
const hopWaiters = [];
hop.port1.onmessage = () => hopWaiters.shift()?.();
const yieldToEvents = () => new Promise((r) => { hopWaiters.push(r); hop.port2.postMessage(0); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function boot({ indexURL, interrupt, snapshots = true }) {
  const t0 = performance.now();
  const progress = (stage, detail = '') => post(P.SIM_PROGRESS, { stage, detail });
  progress('loading Python runtime', 'Pyodide core');
  const { loadPyodide, version } = await import(/* @vite-ignore */ `${indexURL}pyodide.mjs`);
  const io = { stdout: (s) => console.log(`[py] ${s}`), stderr: (s) => console.warn(`[py] ${s}`) };
  const lock = await (await fetch(`${indexURL}pyodide-lock.json`)).json();
  const wheel = lock.packages?.vpslog;
  if (!wheel) throw new Error('vpslog is not in the staged Pyodide lock: run scripts/stage_pyodide.py');
  // The snapshot API is private (underscored): trusted only with the Pyodide it was written for.
  const snap = snapshots && version === SNAPSHOT.pyodide ? `${SNAPSHOT.prefix}${version}-vpslog-${wheel.sha256.slice(0, 16)}.bin` : null;
  let bootMode = 'fresh';
  const saved = snap && (await readCached(snap));
  if (saved) {
    progress('restoring Python', 'memory snapshot');
    try {
      pyodide = await loadPyodide({ indexURL, _loadSnapshot: saved, ...io });
      bridge = pyodide.pyimport('vpslog.bridge');
      bootMode = 'snapshot';
    } catch (e) {
      console.warn('[vpslog sim] memory snapshot unusable, booting afresh:', e);
      pyodide = bridge = null;
      await dropCached(snap);
    }
  }
  if (!bridge) {
    progress('loading Python runtime', 'Pyodide core (about 4–6 s)');
    pyodide = await loadPyodide({ indexURL, _makeSnapshot: !!snap, ...io });
    progress('installing vpslog', 'wheel checked against the local lock');
    const bytes = new Uint8Array(await (await fetch(`${indexURL}${wheel.file_name}`)).arrayBuffer());
    if (await sha256(bytes) !== wheel.sha256) throw new Error(`${wheel.file_name} does not match its sha256 in the lock`);
    // Unpacked by Python itself: loadPackage leaves JS references that a memory snapshot cannot hold.
    pyodide.FS.writeFile('/tmp/vpslog.whl', bytes);
    pyodide.runPython('import site, zipfile; zipfile.ZipFile("/tmp/vpslog.whl").extractall(site.getsitepackages()[0])');
    bridge = pyodide.pyimport('vpslog.bridge');
    bridge.catalog(); // imports every built-in source, so a snapshot holds them
    if (snap) await writeCached(snap, pyodide.makeMemorySnapshot()).catch((e) => console.warn('[vpslog sim] snapshot not saved:', e));
  }
  // Every interpreter restored from one snapshot starts with the same random state.
  bridge.reseed();
  // Stop writes SIGINT here when a model step does not yield (needs cross-origin isolation).
  if (interrupt) {
    pyodide.setInterruptBuffer(new Int32Array(interrupt));
    bridge.enable_interrupts();
  }
  post(P.SIM_READY, {
    bootMs: performance.now() - t0,
    bootMode,
    python: pyodide.runPython('import sys; sys.version.split()[0]'),
    catalog: JSON.parse(bridge.catalog()),
    interruptible: !!interrupt,
  });
}

const SNAPSHOT = { pyodide: '314.0.7', dir: 'cache', prefix: 'pyodide-snapshot-' };

async function sha256(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function cacheDir() {
  return (await navigator.storage.getDirectory()).getDirectoryHandle(SNAPSHOT.dir, { create: true });
}

async function readCached(name) {
  try {
    return new Uint8Array(await (await (await (await cacheDir()).getFileHandle(name)).getFile()).arrayBuffer());
  } catch {
    return null; // not made yet
  }
}

async function dropCached(name) {
  await (await cacheDir()).removeEntry(name).catch(() => {});
}

// One sim writes the snapshot (a Web Lock), under a temporary name moved into
// place when whole, and drops snapshots of other versions.
async function writeCached(name, bytes) {
  await navigator.locks.request(`vpslog-${name}`, { ifAvailable: true }, async (held) => {
    if (!held) return;
    const dir = await cacheDir();
    const tmp = await dir.getFileHandle(`${name}.tmp`, { create: true });
    const w = await tmp.createWritable();
    await w.write(bytes);
    await w.close();
    await tmp.move(dir, name);
    for await (const old of dir.keys()) if (old.startsWith(SNAPSHOT.prefix) && old !== name) await dropCached(old);
  });
}

// The message of a Python exception without the bridge's own frames.
function pyMessage(e) {
  const text = String(e?.message ?? e);
  const last = text.trim().split('\n').pop();
  return last.replace(/^(vpslog\.\w+\.)?(SourceError|InstallError|ValueError): /, '');
}

async function install({ file, bytes }) {
  if (!bridge) throw new Error('install before the Python runtime is ready');
  if (!micropipLoaded) {
    await pyodide.loadPackage('micropip', { messageCallback: () => {} });
    micropipLoaded = true;
  }
  if (!/^[\w.+-]+\.(py|whl)$/.test(file)) throw new Error(`${file}: choose a .py file or a pure-Python wheel (.whl)`);
  pyodide.FS.mkdirTree(USER_DIR);
  const path = `${USER_DIR}/${file}`;
  pyodide.FS.writeFile(path, new Uint8Array(bytes));
  try {
    return JSON.parse(await bridge.install_user_code(path));
  } catch (e) {
    throw new Error(pyMessage(e));
  }
}

function declare({ spec }) {
  try {
    return JSON.parse(bridge.declare(spec));
  } catch (e) {
    throw new Error(pyMessage(e));
  }
}

// Build and describe this sim's part before the run opens: bad parameters,
// code that does not load or a bad edge table are refused while nothing is
// written, and the start only has to send.
function prepare({ key, source }) {
  if (!bridge) throw new Error('prepare before the Python runtime is ready');
  if (active) throw new Error(`producer ${active.producer} is still running`);
  prepared?.producerPy.destroy();
  prepared = null;
  let producerPy = null;
  try {
    producerPy = bridge.make_producer(JSON.stringify(source));
    prepared = { key, producerPy, meta: JSON.parse(bridge.describe(producerPy)) };
  } catch (e) {
    producerPy?.destroy();
    throw new Error(pyMessage(e));
  }
}

async function start({ runId, producer, port, key, pace = 'realtime' }) {
  const startedAt = performance.timeOrigin + performance.now(); // epoch ms, for the time-to-first-record phases
  if (active) throw new Error(`producer ${active.producer} is still running`);
  if (prepared?.key !== key) throw new Error('start without a prepared source');
  const { producerPy, meta } = prepared;
  prepared = null;
  const s = (active = {
    runId, producer, port, pace,
    credits: P.CREDIT_WINDOW, buffers: 0, records: 0, maxInFlight: 0,
    stopRequested: false, creditWaiter: null, waitMs: 0, startedAt, firstSentAt: null,
    // view aggregates, counted from the buffers as they leave (never sent themselves)
    status: new Float64Array(4), edgeEvents: new Uint32Array(65536), lastView: 0, viewBroken: false,
  });
  port.onmessage = (e) => {
    if (e.data?.type !== P.CREDIT || !(e.data.n > 0)) {
      console.warn('[vpslog sim] unexpected message from logger', e.data);
      return;
    }
    s.credits += e.data.n;
    s.creditWaiter?.();
  };
  const status = setInterval(() => post(P.SIM_STATUS, {
    producer, records: s.records, inFlight: P.CREDIT_WINDOW - s.credits, waitMs: s.waitMs,
  }), STATUS_MS);
  let error = null;
  try {
    port.postMessage(P.msg(P.META, { meta }));
    if (meta.producer.worker === 0) postNetwork(meta.run.network?.edges);
    const t0 = performance.now();
    while (!s.stopRequested) {
      if (s.credits === 0) {
        await waitForCredit(s);
        continue;
      }
      const until = pace === 'realtime' ? Math.floor(performance.now() - t0 + REALTIME_LEAD_MS) : -1;
      // The first call makes one buffer, so the logger hears from the run at once.
      const sent = await send(s, producerPy.produce(Math.min(s.credits, s.buffers ? MAX_BUFFERS_PER_CALL : 1), until));
      if (performance.now() - s.lastView >= P.VIEW_MS) postView(s, producerPy);
      if (sent === 0 && producerPy.over) break;
      // real time, model ahead of the clock: wait for it (a model behind it, out of budget, goes on)
      if (sent === 0 && until >= 0 && (producerPy.sim_time_ms >= until || producerPy.exhausted)) await sleep(REALTIME_WAIT_MS);
      else await yieldToEvents();
    }
    // Stop may arrive as SIGINT while Python runs; whatever the model logged stays.
    await send(s, producerPy.flush());
    postView(s, producerPy);
    error = producerPy.error ?? null;
  } finally {
    // Even after a failure the logger must learn where this producer ended,
    // so it can close the run with what was already sent instead of waiting.
    const stats = { ...JSON.parse(bridge.stats(producerPy)), status_counts: statusCounts(s) };
    port.postMessage(P.msg(P.EOF, { records: s.records, buffers: s.buffers, stats, ...(error ? { error } : {}) }));
    post(P.SIM_STOPPED, {
      producer, records: s.records, buffers: s.buffers, waitMs: s.waitMs, maxInFlight: s.maxInFlight, stats, error,
      startedAt, firstSentAt: s.firstSentAt,
    });
    clearInterval(status);
    producerPy.destroy();
    port.close();
    active = null;
  }
}

const statusCounts = (s) => ({ enter: s.status[1], exit: s.status[2], error: s.status[3] });

// The map's geometry, if the source's edge table has it: typed arrays, once.
function postNetwork(edges) {
  if (!edges?.x0) return;
  const f32 = (k) => Float32Array.from(edges[k]);
  const net = { edgeIds: Uint16Array.from(edges.edge_id), x0: f32('x0'), y0: f32('y0'), x1: f32('x1'), y1: f32('y1'), capacity: f32('capacity') };
  self.postMessage(P.msg(P.SIM_NETWORK, net), Object.values(net).map((a) => a.buffer));
}

// One view message: status counts, the busiest edges so far, and the model's
// own state (per-edge occupancy) if it publishes one.
function postView(s, producerPy) {
  s.lastView = performance.now();
  const top = topEdges(s.edgeEvents, P.VIEW_TOP_EDGES);
  let occEdges = new Uint16Array(0);
  let occupancy = new Uint16Array(0);
  if (!s.viewBroken) {
    let v = null;
    try {
      v = producerPy.view();
      const u16 = new Uint16Array(v.toJs().slice().buffer);
      occEdges = u16.slice(0, u16.length / 2);
      occupancy = u16.slice(u16.length / 2);
    } catch (e) {
      s.viewBroken = true; // a broken view() must not stop the logging
      post(P.SIM_ERROR, { message: `the model's view() failed, the map stops updating: ${pyMessage(e)}` });
    } finally {
      v?.destroy();
    }
  }
  const m = { producer: s.producer, simTimeMs: producerPy.sim_time_ms, records: s.records, status: s.status.slice(),
    topEdges: top.edges, topCounts: top.counts, occEdges, occupancy };
  self.postMessage(P.msg(P.SIM_VIEW, m), [m.status.buffer, m.topEdges.buffer, m.topCounts.buffer, occEdges.buffer, occupancy.buffer]);
}

function topEdges(counts, k) {
  const edges = [];
  for (let e = 0; e < counts.length; e++) {
    const c = counts[e];
    if (!c || (edges.length === k && c <= counts[edges[k - 1]])) continue;
    let i = Math.min(edges.length, k - 1);
    while (i > 0 && counts[edges[i - 1]] < c) i--;
    edges.splice(i, 0, e);
    if (edges.length > k) edges.pop();
  }
  return { edges: Uint16Array.from(edges), counts: Float64Array.from(edges, (e) => counts[e]) };
}

function waitForCredit(s) {
  const t = performance.now();
  return new Promise((resolve) => {
    s.creditWaiter = () => {
      s.creditWaiter = null;
      s.waitMs += performance.now() - t;
      resolve();
    };
  });
}

// Post the records in `bytesPy` (a Python bytes proxy): as many whole buffers
// per message as there are credits (the logger's cost is per message, not per
// byte); a copy leaves the wasm heap, the transfer itself is zero-copy.
async function send(s, bytesPy) {
  const view = bytesPy.getBuffer('u8');
  let sent = 0;
  try {
    const data = view.data;
    const { status, edgeEvents } = s;
    for (let r = 0; r < data.byteLength; r += RECORD_SIZE) {
      edgeEvents[data[r + EDGE_OFFSET] | (data[r + EDGE_OFFSET + 1] << 8)]++;
      status[data[r + STATUS_OFFSET]]++;
    }
    for (let off = 0; off < data.byteLength;) {
      while (s.credits === 0) await waitForCredit(s);
      const end = Math.min(off + s.credits * BUFFER_BYTES, data.byteLength);
      const buf = data.slice(off, end).buffer;
      const n = P.chunkBuffers(buf.byteLength);
      s.credits -= n;
      s.maxInFlight = Math.max(s.maxInFlight, P.CREDIT_WINDOW - s.credits);
      s.records += buf.byteLength / RECORD_SIZE;
      s.firstSentAt ??= performance.timeOrigin + performance.now();
      s.port.postMessage(P.msg(P.CHUNK, { seq: s.buffers, buf }), [buf]);
      s.buffers += n;
      off = end;
      sent++;
    }
  } finally {
    view.release();
    bytesPy.destroy();
  }
  return sent;
}

async function reply(m, fn) {
  try {
    post(P.SIM_REPLY, { id: m.id, ok: true, result: await fn(m) });
  } catch (e) {
    post(P.SIM_REPLY, { id: m.id, ok: false, error: e.message ?? String(e) });
  }
}

self.onmessage = async (e) => {
  const m = e.data;
  try {
    switch (m?.type) {
      case P.SIM_BOOT:
        await boot(m);
        break;
      case P.SIM_START:
        await start(m);
        break;
      case P.SIM_STOP:
        if (active) active.stopRequested = true;
        break;
      case P.SIM_INSTALL:
        await reply(m, install);
        break;
      case P.SIM_DECLARE:
        await reply(m, declare);
        break;
      case P.SIM_PREPARE:
        await reply(m, prepare);
        break;
      default:
        throw new Error(`unknown message type ${JSON.stringify(m?.type)}`);
    }
  } catch (err) {
    post(P.SIM_ERROR, { message: err.message ?? String(err) });
  }
};
