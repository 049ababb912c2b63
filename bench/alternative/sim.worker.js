// The alternative's sim worker: Pyodide runs a model with a log of the
// alternative's own (objlog.py or steplog.py) and posts what it logged on the
// port it was given, in one of these encodings:
//   objects  every event object its own message (structured clone), ~4096 per
//            batch of steps: variants 1 and 2 (IndexedDB, directly or relayed)
//   arrays   one message per model step: the step's columns as typed arrays, transferred
//   json     one message per model step: the step's JSON lines, made in Python
//   model    nothing posted: the model alone, what any logger's rate is bounded by
// The storage side acks what it has stored, and the sim pauses while WINDOW
// records are unacknowledged, so a run's memory stays bounded; without that the
// queue of pending messages grows without limit whenever storage is slower.
const STEP_EVENTS = 4096;
const WINDOW = 16384;
const PY_FILES = ['steplog.py', 'objlog.py', 'highway.py'];

const ENCODINGS = {
  objects: {
    driver: 'objlog.Driver',
    step: (d) => d.step(STEP_EVENTS),
    export: (batch) => batch.toJs({ dict_converter: Object.fromEntries }),
    post(port, events) {
      for (const ev of events) port.postMessage(ev);
      return events.length;
    },
  },
  arrays: {
    driver: 'steplog.StepDriver',
    step: (d) => d.step(),
    export: (columns) => columns.toJs(), // array.array -> a TypedArray copy of its own
    post(port, arrays) {
      const n = arrays[0].length; // before the transfer detaches them
      if (n) port.postMessage({ n, columns: arrays }, arrays.map((a) => a.buffer));
      return n;
    },
  },
  json: {
    driver: 'steplog.StepDriver',
    step: (d) => d.step(),
    export: (columns, d) => ({ n: d.records, text: d.json_lines(columns) }),
    post(port, m) {
      if (m.n) port.postMessage(m);
      return m.n;
    },
  },
  model: {
    driver: 'steplog.StepDriver',
    step: (d) => d.step(),
    export: (columns, d) => d.records,
    post: (port, n) => n,
  },
};

let py = null;
let prepared = null; // {driver, encoding}, built before the run's clock starts
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
  for (const f of PY_FILES) py.FS.writeFile(`/tmp/${f}`, await (await fetch(new URL(`./${f}`, import.meta.url))).text());
  py.runPython('import sys; sys.path.insert(0, "/tmp")');
}

function prepare({ encoding, source }) {
  const enc = ENCODINGS[encoding];
  const [module, name] = enc.driver.split('.');
  prepared = { driver: py.pyimport(module)[name](JSON.stringify(source)), encoding: enc };
}

async function run({ port }) {
  const { driver: d, encoding: enc } = prepared;
  prepared = null;
  const s = (active = { posted: 0, acked: 0, stop: false, wake: null, modelMs: 0, exportMs: 0, postMs: 0, waitMs: 0, steps: 0 });
  port.onmessage = (e) => {
    s.acked += e.data.acked;
    s.wake?.();
  };
  const names = d.names?.toJs();
  if (names) port.postMessage({ names });
  try {
    while (!s.stop && !d.exhausted) {
      const tw = performance.now();
      while (s.posted - s.acked >= WINDOW && !s.stop) await new Promise((r) => { s.wake = r; });
      const t0 = performance.now();
      const step = enc.step(d);
      const t1 = performance.now();
      const msg = enc.export(step, d);
      step.destroy();
      const t2 = performance.now();
      const n = enc.post(port, msg);
      s.posted += n;
      s.steps += n ? 1 : 0;
      if (enc === ENCODINGS.model) s.acked += n;
      s.waitMs += t0 - tw;
      s.modelMs += t1 - t0;
      s.exportMs += t2 - t1;
      s.postMs += performance.now() - t2;
      await yieldToEvents();
    }
  } finally {
    d.destroy();
    active = null;
  }
  port.postMessage({ eof: s.posted });
  postMessage({ type: 'stopped', ...s, wake: null });
}

self.onmessage = async (e) => {
  try {
    if (e.data.type === 'boot') {
      await boot(e.data);
      postMessage({ type: 'ready' });
    } else if (e.data.type === 'prepare') {
      prepare(e.data);
      postMessage({ type: 'prepared' });
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
