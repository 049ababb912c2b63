// Page side of the alternative benchmark: boots the alternative's workers,
// wires each variant's sims to its storage, runs vpslog itself through
// window.vpslog.pipeline, and measures every run the same way: records stored
// / elapsed, bytes stored, requestAnimationFrame gaps and long tasks on this
// (the main) thread.
const SIM_URL = new URL('./sim.worker.js', import.meta.url);

// variant -> the sims' encoding (sim.worker.js) and the storage worker, if any
export const VARIANTS = {
  direct: { encoding: 'objects', storage: 'idb' }, // 1: objects -> worker -> IndexedDB
  relay: { encoding: 'objects', storage: 'idb', relay: true }, // 2: objects -> main thread -> IndexedDB
  arrays: { encoding: 'arrays', storage: 'jsonl' }, // a step's typed arrays -> worker -> OPFS JSON lines
  json: { encoding: 'json', storage: 'jsonl' }, // a step's JSON lines -> worker -> OPFS
  model: { encoding: 'model' }, // the model alone, nothing logged
};
const STORAGE_URLS = {
  idb: new URL('./storage.worker.js', import.meta.url),
  jsonl: new URL('./jsonl.worker.js', import.meta.url),
};

let sims = [];
let storages = {};
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
  storages = Object.fromEntries(Object.entries(STORAGE_URLS).map(([k, url]) => [k, new Worker(url, { type: 'module' })]));
  await Promise.all(sims.map((w) => { w.postMessage({ type: 'boot', indexURL }); return next(w, 'ready'); }));
}

// One port pair per sim: the sim's end, and the storage's (through this thread for a relay).
function wire(relay) {
  const a = new MessageChannel();
  if (!relay) return [a.port1, a.port2];
  // Every message is deserialised here on the main thread and cloned again.
  const b = new MessageChannel();
  a.port2.onmessage = (e) => b.port1.postMessage(e.data);
  b.port1.onmessage = (e) => a.port2.postMessage(e.data);
  return [a.port1, b.port2];
}

const sum = (xs, k) => xs.reduce((a, x) => a + x[k], 0);

// A variant of VARIANTS; source: {source, params, seed, stream}, as vpslog takes it
// (stream: which of the model's streams the batched variants log). `keep` leaves
// the run's data in place (tests read it back); it returns the run's name.
export async function runAlternative({ variant, source, durationS, keep = false }) {
  const v = VARIANTS[variant];
  const name = `alternative-${++runs}`;
  const storage = storages[v.storage];
  const pairs = sims.map(() => wire(v.relay));
  await Promise.all(sims.map((w, i) => {
    w.postMessage({ type: 'prepare', encoding: v.encoding, source: { ...source, worker: i, workers: sims.length } });
    return next(w, 'prepared');
  }));
  if (storage) {
    const ports = pairs.map((p) => p[1]);
    storage.postMessage({ type: 'open', name, ports }, ports);
    await next(storage, 'opened');
  }
  const done = storage ? next(storage, 'done') : null;
  const stopped = Promise.all(sims.map((w) => next(w, 'stopped')));
  return measure(async () => {
    const t0 = performance.now();
    sims.forEach((w, i) => w.postMessage({ type: 'start', port: pairs[i][0] }, [pairs[i][0]]));
    const timer = setTimeout(() => sims.forEach((w) => w.postMessage({ type: 'stop' })), durationS * 1000);
    const [d, st] = await Promise.all([done, stopped]);
    clearTimeout(timer);
    const elapsed = (performance.now() - t0) / 1000;
    const posted = sum(st, 'posted');
    if (d && d.stored !== posted) throw new Error(`${variant}: stored ${d.stored} of ${posted} records`);
    return {
      name, records: posted, elapsed, storedBytes: d?.usage ?? 0, storageMs: d?.ms,
      modelMs: sum(st, 'modelMs'), exportMs: sum(st, 'exportMs'), postMs: sum(st, 'postMs'), waitMs: sum(st, 'waitMs'), steps: sum(st, 'steps'),
    };
  }, null, async () => {
    if (!storage || keep) return;
    storage.postMessage({ type: 'drop', name });
    await next(storage, 'dropped');
  });
}

// `stream`: which stream's records and file count (events unless given), as the
// manifest lists it. `keep` leaves the run in OPFS (tests read its file back).
export async function runVpslog({ workers, source: { stream = 'events', ...source }, durationS, keep = false }) {
  const pl = window.vpslog.pipeline;
  let runId = null;
  return measure(async () => {
    let profile = null; // the logger's own accounting, in its stats
    const watch = (e) => { profile = e.detail.profile ?? profile; };
    pl.addEventListener('stats', watch);
    const closed = new Promise((resolve) => pl.addEventListener('run', function on(e) {
      if (e.detail.state === 'closed') { pl.removeEventListener('run', on); resolve(e.detail); }
    }));
    runId = await pl.start({ workers, mode: 'opfs', pace: 'max', durationS, source });
    const t0 = performance.now();
    const d = await closed;
    const elapsed = (performance.now() - t0) / 1000;
    pl.removeEventListener('stats', watch);
    if (d.manifest.status !== 'closed') throw new Error(`vpslog run: ${JSON.stringify(d.manifest.status)}`);
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs');
    const size = async (f) => (await (await dir.getFileHandle(f)).getFile()).size;
    const counted = d.manifest.streams.find((s) => s.name === stream);
    if (!counted) throw new Error(`vpslog run: no stream ${stream} in the manifest`);
    // every record the sims' Producers released of this stream is stored, none dropped
    const produced = d.sims.reduce((a, s) => a + (s.stats?.streams?.[stream] ?? 0), 0);
    if (counted.records !== produced || counted.dropped_records) {
      throw new Error(`vpslog run: stream ${stream}: ${counted.records} stored of ${produced} produced, ${counted.dropped_records} dropped`);
    }
    return {
      runId, file: counted.file, layout: counted.layout, records: counted.records, elapsed, fileBytes: await size(counted.file),
      manifestBytes: await size(`${runId}.manifest.json`), waitMs: d.sims.reduce((a, s) => a + s.waitMs, 0),
      storageMs: profile && { handle: profile.handleMs, tick: profile.tickMs },
    };
  }, 'fileSystem', () => (keep ? null : pl.deleteRun(runId)));
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
