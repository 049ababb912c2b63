// The alternative's storage worker: event objects arrive one message each on
// the ports it is given (one per sim, or per relay) and are written to
// IndexedDB in batched readwrite transactions: a batch closes at BATCH events
// or FLUSH_MS after its first event, whichever comes first. When a batch's
// transaction completes, each port is acked the events it contributed.
// Each run's database lives in a storage bucket of its own, only so the
// benchmark can read that run's bytes alone (bucket.estimate()) and drop them
// whole: in the default bucket one LevelDB holds every database of the origin,
// and compaction of a deleted run's data lands in the next run's figure.
const BATCH = 1000;
const FLUSH_MS = 50;
const STORE = 'events';

let bucket = null;
let db = null;
let run = null;

function openDb(name) {
  return new Promise((resolve, reject) => {
    const req = bucket.indexedDB.open(name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { autoIncrement: true });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function newBatch() {
  return { events: [], from: new Map(), timer: null };
}

function flush() {
  const r = run;
  const b = r.batch;
  clearTimeout(b.timer);
  r.batch = newBatch();
  if (!b.events.length) return;
  r.pending++;
  const tx = db.transaction(STORE, 'readwrite');
  const store = tx.objectStore(STORE);
  for (const ev of b.events) store.add(ev);
  tx.oncomplete = () => {
    r.pending--;
    r.stored += b.events.length;
    r.transactions++;
    for (const [port, n] of b.from) port.postMessage({ acked: n });
    maybeDone();
  };
  tx.onerror = tx.onabort = () => fail(tx.error ?? new Error('transaction aborted'));
}

function onEvent(port, ev) {
  const r = run;
  if ('eof' in ev) {
    r.expected += ev.eof;
    r.open--;
    flush();
    maybeDone();
    return;
  }
  const b = r.batch;
  b.events.push(ev);
  b.from.set(port, (b.from.get(port) ?? 0) + 1);
  if (b.events.length >= BATCH) flush();
  else if (!b.timer) b.timer = setTimeout(flush, FLUSH_MS);
}

async function maybeDone() {
  const r = run;
  if (r.open > 0 || r.pending > 0 || r.stored < r.expected || r.done) return;
  r.done = true;
  const { usage } = await bucket.estimate();
  postMessage({ type: 'done', stored: r.stored, expected: r.expected, transactions: r.transactions, usage });
}

function fail(err) {
  postMessage({ type: 'error', message: String(err?.message ?? err) });
}

self.onmessage = async (e) => {
  const m = e.data;
  try {
    if (m.type === 'open') {
      bucket = await navigator.storageBuckets.open(m.name);
      db = await openDb(m.name);
      run = { batch: newBatch(), open: m.ports.length, expected: 0, stored: 0, pending: 0, transactions: 0, done: false };
      for (const port of m.ports) port.onmessage = (ev) => onEvent(port, ev.data);
      postMessage({ type: 'opened' });
    } else if (m.type === 'drop') {
      db?.close();
      db = bucket = null;
      await navigator.storageBuckets.delete(m.name);
      postMessage({ type: 'dropped' });
    }
  } catch (err) {
    fail(err);
  }
};
