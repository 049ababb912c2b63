// Page side of the alternative benchmark: boots the alternative's workers,
// wires variant 1 (sim -> storage, direct) or variant 2 (sim -> page relay ->
// storage), runs vpslog itself through window.vpslog.pipeline, and measures
// every run the same way: events stored / elapsed, storage.estimate() delta,
// requestAnimationFrame gaps and long tasks on this (the main) thread.
const SIM_URL = new URL('./sim.worker.js', import.meta.url);
const STORAGE_URL = new URL('./storage.worker.js', import.meta.url);

let sims = [];
let storage = null;
let runs = 0;

// The next message of `type` from a worker; an 'error' message rejects.
function next(worker, type) {
  return new Promise((resolve, reject) => {
    const on = (e) => {
      if (e.data.type === 'error') reject(new Error(e.data.message));
      else if (e.data.type !== type) return;
      else resolve(e.data);
      worker.removeEventListener('message', on);
    };
    worker.addEventListener('message', on);
  });
}

export async function boot(indexURL, workers = 2) {
  if (sims.length) return;
  sims = Array.from({ length: workers }, () => new Worker(SIM_URL, { type: 'module' }));
  storage = new Worker(STORAGE_URL, { type: 'module' });
  await Promise.all(sims.map((w) => { w.postMessage({ type: 'boot', indexURL }); return next(w, 'ready'); }));
}

// variant 'direct' (1) or 'relay' (2); source: {source, params, seed}, as vpslog takes it.
export async function runAlternative({ variant, source, durationS }) {
  const name = `alternative-${++runs}`;
  const simPorts = [];
  const storePorts = [];
  for (const _ of sims) {
    const a = new MessageChannel();
    if (variant === 'relay') {
      // Every event is deserialised here on the main thread and cloned again.
      const b = new MessageChannel();
      a.port2.onmessage = (e) => b.port1.postMessage(e.data);
      b.port1.onmessage = (e) => a.port2.postMessage(e.data);
      storePorts.push(b.port2);
    } else {
      storePorts.push(a.port2);
    }
    simPorts.push(a.port1);
  }
  storage.postMessage({ type: 'open', name, ports: storePorts }, storePorts);
  await next(storage, 'opened');
  const done = next(storage, 'done');
  const stopped = Promise.all(sims.map((w) => next(w, 'stopped')));
  return measure(async () => {
    const t0 = performance.now();
    sims.forEach((w, i) => w.postMessage(
      { type: 'start', port: simPorts[i], source: { ...source, worker: i, workers: sims.length } }, [simPorts[i]]));
    setTimeout(() => sims.forEach((w) => w.postMessage({ type: 'stop' })), durationS * 1000);
    const [d, st] = await Promise.all([done, stopped]);
    const elapsed = (performance.now() - t0) / 1000;
    const posted = st.reduce((a, s) => a + s.posted, 0);
    if (d.stored !== posted) throw new Error(`${variant}: stored ${d.stored} of ${posted} events`);
    return {
      records: d.stored, elapsed, transactions: d.transactions, storedBytes: d.usage,
      pythonMs: st.reduce((a, s) => a + s.pythonMs, 0), postMs: st.reduce((a, s) => a + s.postMs, 0),
    };
  }, null, async () => {
    storage.postMessage({ type: 'drop', name });
    await next(storage, 'dropped');
  });
}

export async function runVpslog({ workers, source, durationS }) {
  const pl = window.vpslog.pipeline;
  let runId = null;
  return measure(async () => {
    const closed = new Promise((resolve) => pl.addEventListener('run', function on(e) {
      if (e.detail.state === 'closed') { pl.removeEventListener('run', on); resolve(e.detail); }
    }));
    runId = await pl.start({ workers, mode: 'opfs', pace: 'max', durationS, source });
    const t0 = performance.now();
    const d = await closed;
    const elapsed = (performance.now() - t0) / 1000;
    if (d.manifest.status !== 'closed' || d.manifest.records !== d.produced) throw new Error(`vpslog run: ${JSON.stringify(d.manifest.status)}`);
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs');
    const size = async (f) => (await (await dir.getFileHandle(f)).getFile()).size;
    return { records: d.manifest.records, elapsed, fileBytes: (await size(`${runId}.bin`)) + (await size(`${runId}.manifest.json`)) };
  }, 'fileSystem', () => pl.deleteRun(runId));
}

// No run at all: the page's own frame gaps, for reference.
export function idle(durationS) {
  return measure(() => new Promise((r) => setTimeout(() => r({ records: 0, elapsed: durationS }), durationS * 1000)), null, () => {});
}

async function usage(kind) {
  const e = await navigator.storage.estimate();
  return e.usageDetails?.[kind] ?? e.usage;
}

// Runs `body` while recording frame gaps and long tasks. Storage: `kind` names
// the default bucket's usage to difference (vpslog: OPFS); without it `body`
// reports its own storedBytes. Taken once the run's data is stored, before
// `cleanup` deletes it.
async function measure(body, kind, cleanup) {
  const before = kind ? await usage(kind) : 0;
  const longTasks = [];
  const obs = new PerformanceObserver((l) => longTasks.push(...l.getEntries()));
  obs.observe({ type: 'longtask' });
  const gaps = [];
  let last = null;
  let frames = true;
  const frame = (t) => { if (last !== null) gaps.push(t - last); last = t; if (frames) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  let result;
  try {
    result = await body();
  } finally {
    frames = false;
    obs.disconnect();
  }
  const storedBytes = kind ? (await usage(kind)) - before : result.storedBytes ?? 0;
  await cleanup();
  return {
    ...result, storedBytes, gaps,
    longTasks: longTasks.length, longTaskMs: longTasks.reduce((a, t) => a + t.duration, 0),
  };
}
