// The alternative's sim worker: Pyodide runs a vpslog source with objlog.py's
// log, and every event object is posted on its own (structured clone) on the
// port it was given: straight to the storage worker (variant 1) or to the page,
// which relays it (variant 2). The storage side acks what it has committed, and
// the sim pauses while WINDOW events are unacknowledged, so a run's memory stays
// bounded; without that the queue of pending messages grows without limit.
const STEP_EVENTS = 4096;
const WINDOW = 16384;

let py = null;
let driver = null;
let active = null; // the running part's counters

// A macrotask hop that setTimeout would clamp: acks and stop are seen between steps.
const hop = new MessageChannel();
const hopWaiters = [];
hop.port1.onmessage = () => hopWaiters.shift()?.();
const yieldToEvents = () => new Promise((r) => { hopWaiters.push(r); hop.port2.postMessage(0); });

async function boot({ indexURL }) {
  const { loadPyodide } = await import(/* @vite-ignore */ `${indexURL}pyodide.mjs`);
  py = await loadPyodide({ indexURL });
  await py.loadPackage('vpslog', { messageCallback: () => {} });
  const code = await (await fetch(new URL('./objlog.py', import.meta.url))).text();
  py.FS.writeFile('/tmp/objlog.py', code);
  py.runPython('import sys; sys.path.insert(0, "/tmp")');
  driver = py.pyimport('objlog').Driver;
}

async function run({ port, source }) {
  const s = (active = { posted: 0, acked: 0, stop: false, wake: null, pythonMs: 0, postMs: 0 });
  port.onmessage = (e) => {
    s.acked += e.data.acked;
    s.wake?.();
  };
  const d = driver(JSON.stringify(source));
  try {
    while (!s.stop && !d.exhausted) {
      while (s.posted - s.acked >= WINDOW && !s.stop) await new Promise((r) => { s.wake = r; });
      const t0 = performance.now();
      const batch = d.step(STEP_EVENTS);
      const events = batch.toJs({ dict_converter: Object.fromEntries });
      batch.destroy();
      const t1 = performance.now();
      for (const ev of events) port.postMessage(ev);
      s.posted += events.length;
      s.pythonMs += t1 - t0;
      s.postMs += performance.now() - t1;
      await yieldToEvents();
    }
  } finally {
    d.destroy();
    active = null;
  }
  port.postMessage({ eof: s.posted });
  postMessage({ type: 'stopped', posted: s.posted, pythonMs: s.pythonMs, postMs: s.postMs });
}

self.onmessage = async (e) => {
  try {
    if (e.data.type === 'boot') {
      await boot(e.data);
      postMessage({ type: 'ready' });
    } else if (e.data.type === 'start') {
      await run(e.data);
    } else if (e.data.type === 'stop' && active) {
      active.stop = true;
      active.wake?.();
    }
  } catch (err) {
    postMessage({ type: 'error', message: String(err?.stack ?? err) });
  }
};
