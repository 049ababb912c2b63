// Sim worker: Python (Pyodide) produces packed records; this file moves them.
// Each whole buffer is copied out of the wasm heap into a fresh ArrayBuffer and
// transferred to the logger. At most CREDIT_WINDOW buffers are in flight: with
// no credit left the loop waits, so nothing is dropped and memory stays bounded.
import * as P from './protocol.js';
import { BUFFER_BYTES, RECORD_SIZE } from './record.js';

const MAX_BUFFERS_PER_CALL = 16;
const STATUS_MS = 250;

let pyodide = null;
let bridge = null;
let active = null; // the running producer's state

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

async function boot({ indexURL }) {
  const t0 = performance.now();
  const progress = (stage, detail = '') => post(P.SIM_PROGRESS, { stage, detail });
  progress('loading Python runtime', 'Pyodide core (about 4–6 s)');
  const { loadPyodide } = await import(/* @vite-ignore */ `${indexURL}pyodide.mjs`);
  pyodide = await loadPyodide({ indexURL, stdout: (s) => console.log(`[py] ${s}`), stderr: (s) => console.warn(`[py] ${s}`) });
  progress('installing vpslog', 'wheel from the local Pyodide lock');
  const failures = [];
  await pyodide.loadPackage('vpslog', { messageCallback: () => {}, errorCallback: (m) => failures.push(m) });
  try {
    bridge = pyodide.pyimport('vpslog.bridge');
  } catch (e) {
    throw new Error(`vpslog did not install: ${failures.join('; ') || e.message}`);
  }
  post(P.SIM_READY, { bootMs: performance.now() - t0, python: pyodide.runPython('import sys; sys.version.split()[0]') });
}

async function start({ runId, producer, port, source, pace = 'realtime' }) {
  if (!bridge) throw new Error('start before the Python runtime is ready');
  if (active) throw new Error(`producer ${active.producer} is still running`);
  const s = (active = {
    runId, producer, port, pace,
    credits: P.CREDIT_WINDOW, seq: 0, records: 0, maxInFlight: 0,
    stopRequested: false, creditWaiter: null, waitMs: 0,
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
  let producerPy = null;
  try {
    producerPy = bridge.make_producer(JSON.stringify(source));
    port.postMessage(P.msg(P.META, { meta: JSON.parse(bridge.describe(producerPy)) }));
    const t0 = performance.now();
    while (!s.stopRequested) {
      if (s.credits === 0) {
        await waitForCredit(s);
        continue;
      }
      if (pace === 'realtime') {
        const ahead = producerPy.sim_time_ms - (performance.now() - t0);
        if (ahead > 0) {
          await sleep(Math.min(ahead, 50));
          continue;
        }
      }
      const sent = await send(s, producerPy.produce(Math.min(s.credits, MAX_BUFFERS_PER_CALL)));
      if (sent === 0 && producerPy.exhausted) break;
      await yieldToEvents();
    }
    await send(s, producerPy.flush());
  } finally {
    // Even after a failure the logger must learn where this producer ended,
    // so it can close the run with what was already sent instead of waiting.
    const stats = producerPy ? JSON.parse(bridge.stats(producerPy)) : null;
    port.postMessage(P.msg(P.EOF, { records: s.records, buffers: s.seq, stats }));
    post(P.SIM_STOPPED, { producer, records: s.records, buffers: s.seq, waitMs: s.waitMs, maxInFlight: s.maxInFlight, stats });
    clearInterval(status);
    producerPy?.destroy();
    port.close();
    active = null;
  }
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

// Post the records in `bytesPy` (a Python bytes proxy) as whole buffers; a
// copy per buffer leaves the wasm heap, the transfer itself is zero-copy.
async function send(s, bytesPy) {
  const view = bytesPy.getBuffer('u8');
  let sent = 0;
  try {
    const data = view.data;
    for (let off = 0; off < data.byteLength; off += BUFFER_BYTES) {
      while (s.credits === 0) await waitForCredit(s);
      const buf = data.slice(off, Math.min(off + BUFFER_BYTES, data.byteLength)).buffer;
      s.credits--;
      s.maxInFlight = Math.max(s.maxInFlight, P.CREDIT_WINDOW - s.credits);
      s.records += buf.byteLength / RECORD_SIZE;
      s.port.postMessage(P.msg(P.CHUNK, { seq: s.seq++, buf }), [buf]);
      sent++;
    }
  } finally {
    view.release();
    bytesPy.destroy();
  }
  return sent;
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
        if (active) {
          active.stopRequested = true;
        }
        break;
      default:
        throw new Error(`unknown message type ${JSON.stringify(m?.type)}`);
    }
  } catch (err) {
    post(P.SIM_ERROR, { message: err.message ?? String(err) });
  }
};
