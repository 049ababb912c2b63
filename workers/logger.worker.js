// Logger worker: owns storage. Receives record buffers from N producer ports,
// returns credits (bounded in-flight), writes through a sink, drains every
// producer on stop, and posts low-rate stats to the page. The run catalogue,
// recovery of orphaned runs and the DLQ live in their own modules; this file
// is the run session, the message router and the timers that drive them.
import * as P from './protocol.js';
import { RECORD_SIZE } from './record.js';
import { SinkError } from './sinks/base.js';
import { OpfsSink } from './sinks/opfs.js';
import { NullSink } from './sinks/null.js';
import { CloudSink } from './sinks/cloud.js';
import { DeadLetterQueue } from './dlq.js';
import { openManifest, closeManifest, withSource } from './manifest.js';
import { deleteRun, getRun, listRuns } from './catalogue.js';
import { recoverOrphans, repairIfOrphan } from './recovery.js';
import { CHANNEL, holdLock, runLock } from './locks.js';
import {
  applyRetention, expectedRunBytes, loadPolicy, preflight, setPinned, setPolicy, storageUsage, withPins,
} from './retention.js';
import { JSON_RESERVE, binName, manifestName, progressName, removeIfAny, runsDir, writeJson } from './storage.js';

// Storage strategies behind one interface (sinks/base.js).
const SINKS = { opfs: OpfsSink, null: NullSink, cloud: CloudSink };
const REPLAY_MS = 1000;
const STATS_MS = 500;
const TICK_MS = 50;
const CHECKPOINT_MS = 1000;
// How long a stop waits for every producer's eof; a run may ask for another (ms).
const DRAIN_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MAX_MS = 10 * 60_000;
const MAX_ERROR_MESSAGES = 20;

let run = null;
let cloudConfig = null;
const tabs = new BroadcastChannel(CHANNEL);
const dlq = new DeadLetterQueue();
dlq.onChange = () => tabs.postMessage(P.msg(P.TAB_DLQ));
const dlqLoaded = dlq.load().catch((e) => reportError(`cannot read the dead-letter queue: ${e.message}`));
const NO_TOTALS = { runId: null, records: 0, bytes: 0, bytesWritten: 0, bytesStaged: 0, writes: 0, producers: 0, rejected: 0, dropped: 0 };
let lastStats = { t: performance.now(), records: 0, totals: NO_TOTALS };
const errors = { rejected_messages: 0, messages: [] };

function post(type, fields) {
  self.postMessage(P.msg(type, fields));
}

function reportError(message) {
  console.warn(`[vpslog logger] ${message}`);
  if (errors.messages.length < MAX_ERROR_MESSAGES) errors.messages.push(message);
  post(P.LOG_ERROR, { message });
}

function reject(where, why) {
  errors.rejected_messages++;
  reportError(`rejected message from ${where}: ${why}`);
}

async function openRun({ runId, mode = 'opfs', config = {}, producers, cloud, drainTimeoutMs = DRAIN_TIMEOUT_MS }) {
  const phases = {}; // ms spent in each step of opening, for the time-to-first-record breakdown
  let last = performance.now();
  const mark = (name) => {
    const t = performance.now();
    phases[name] = t - last;
    last = t;
  };
  if (run) throw new Error(`run ${run.runId} is still open`);
  if (typeof runId !== 'string' || !P.RUN_ID_RE.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}`);
  const Sink = Object.hasOwn(SINKS, mode) ? SINKS[mode] : null;
  if (!Sink) throw new Error(`mode ${JSON.stringify(mode)} is not available`);
  if (!Array.isArray(producers) || !producers.length || new Set(producers).size !== producers.length) {
    throw new Error('open needs a non-empty list of distinct producer ids');
  }
  if (!Number.isSafeInteger(drainTimeoutMs) || drainTimeoutMs < 1 || drainTimeoutMs > DRAIN_TIMEOUT_MAX_MS) {
    throw new Error(`drainTimeoutMs must be a whole number of ms, 1–${DRAIN_TIMEOUT_MAX_MS}, got ${JSON.stringify(drainTimeoutMs)}`);
  }
  await dlqLoaded;
  mark('dlq');
  if (Sink.persistent) await preflight(expectedRunBytes(config, RECORD_SIZE), catalogue);
  mark('preflight');
  // Held until the run is closed: any tab that finds the run open with this
  // lock free knows its writer is gone (recovery.js).
  const releaseLock = await holdLock(runLock(runId));
  mark('lock');
  let sink;
  let dir;
  try {
    dir = Sink.catalogued ? await runsDir() : null;
    sink = await Sink.open(runId, { cloud: cloud ?? cloudConfig, dlq });
  } catch (e) {
    releaseLock();
    throw e;
  }
  mark('sink');
  sink.onReady = () => run?.sink === sink && run.producers.forEach(returnCredits);
  const r = {
    runId, sink, releaseLock, dir, persistent: Sink.persistent, final: null, stored: false,
    // a CLOUD run's capability (renewed in place by the sink): recovery needs it to publish the run
    capability: cloud?.run ?? null,
    manifest: openManifest({ runId, mode, config, producers }), source: null,
    manifestSize: 0, manifestWrites: Promise.resolve(), checkpointAt: performance.now(), checkpointing: null,
    producers: new Map(), expected: new Set(producers), stopping: false, drainTimeoutMs, drainTimer: null, failed: null,
    phases, profile: { messages: 0, handleMs: 0, appendMs: 0, credits: 0, creditMs: 0, tickMs: 0, openedAt: 0 },
  };
  errors.rejected_messages = 0;
  errors.messages = [];
  try {
    await saveManifest(r, r.manifest, JSON_RESERVE);
  } catch (e) {
    // No manifest, no run: recovery and the catalogue could not see it. Nothing is stored yet.
    const leftovers = [manifestName(runId), ...(Sink.persistent ? [binName(runId)] : [])];
    try {
      await sink.close();
      await Promise.all(leftovers.map((n) => removeIfAny(dir, n)));
    } catch (err) {
      reportError(`could not remove what the refused run ${runId} left in runs/: ${err.message}`);
    } finally {
      releaseLock();
    }
    throw new Error(`cannot open run ${runId}: its manifest could not be written (${e.message})`);
  }
  mark('manifest');
  r.profile.openedAt = performance.now();
  run = r;
  announce(runId, 'open');
  lastStats = { t: performance.now(), records: 0, totals: NO_TOTALS };
  return runId;
}

// Manifest writes are queued (one sync handle at a time) and never shrink the
// file: each write reserves `headroom` bytes beyond its JSON, and the close-time
// write reuses that space, so it succeeds even on a full disk. The returned
// promise rejects if this write failed; the queue goes on with the next.
function saveManifest(r, value, headroom) {
  if (!r.dir) return Promise.resolve();
  const write = r.manifestWrites.then(async () => {
    r.manifestSize = await writeJson(r.dir, manifestName(r.runId), value, { minSize: r.manifestSize, headroom });
  });
  r.manifestWrites = write.catch(() => {});
  return write;
}

function onMeta(p, meta) {
  if (p.meta) {
    reject(`producer ${p.id}`, 'meta sent twice');
    return;
  }
  p.meta = meta;
  if (!run.source) run.source = meta.run;
  else if (JSON.stringify(run.source) !== JSON.stringify(meta.run)) {
    reportError(`producer ${p.id} describes a different run than the first producer; keeping the first`);
  }
  // Written now, while the disk has room: the edge table can be large.
  const r = run;
  saveManifest(r, withSource(r.manifest, r.source, producerSources(r)), JSON_RESERVE)
    .catch((e) => reportError(`could not write the manifest of ${r.runId}: ${e.message}`));
}

// What survives if this tab dies now, for recovery.js: the sink's safe bytes
// (and CLOUD parts), and per-producer counts when they describe exactly those bytes.
function checkpoint(r) {
  if (!r.dir || r.checkpointing || r.failed) return;
  r.checkpointAt = performance.now();
  const cp = r.sink.checkpoint();
  if (!cp) return;
  r.checkpointing = writeProgress(r, progressOf(r, cp)).finally(() => { r.checkpointing = null; });
}

function writeProgress(r, progress) {
  return writeJson(r.dir, progressName(r.runId), progress)
    .catch((e) => reportError(`could not record the progress of ${r.runId}: ${e.message}`));
}

function progressOf(r, cp) {
  const received = [...r.producers.values()];
  const exact = received.reduce((a, p) => a + p.records, 0) * RECORD_SIZE === cp.bytes;
  return {
    at: new Date().toISOString(), ...cp,
    producers: exact ? Object.fromEntries(received.map((p) => [p.id, p.records])) : null,
    ...(r.capability ? { run: r.capability } : {}),
  };
}

const producerSources = (r) => new Map([...r.producers.values()].map((p) => [p.id, p.meta?.producer ?? null]));

function attach({ producer, port }) {
  if (!(port instanceof MessagePort)) throw new Error('attach without a MessagePort');
  if (!run || !run.expected.has(producer) || run.producers.has(producer)) {
    port.close();
    throw new Error(`unknown or duplicate producer ${JSON.stringify(producer)}`);
  }
  const p = { id: producer, port, records: 0, buffers: 0, owed: 0, returned: 0, sent: 0, eof: false, reported: null };
  run.producers.set(producer, p);
  port.onmessage = (e) => onProducerMessage(p, e.data);
  port.onmessageerror = () => reject(`producer ${producer}`, 'message could not be deserialized');
}

function onProducerMessage(p, m) {
  const t0 = performance.now();
  const why = P.checkProducerMessage(m);
  const spent = m?.type === P.CHUNK ? P.chunkBuffers(m.buf instanceof ArrayBuffer ? m.buf.byteLength : 0) : 0;
  if (why || p.eof) {
    reject(`producer ${p.id}`, why ?? `${m.type} after eof`);
    if (spent) giveCredits(p, spent);
    return;
  }
  if (m.type === P.META) {
    onMeta(p, m.meta);
    return;
  }
  if (m.type === P.EOF) {
    p.eof = true;
    p.reported = m.records;
    p.stats = m.stats ?? null;
    p.error = m.error ?? null;
    if (p.error) reportError(`producer ${p.id}: the model failed: ${p.error.trim().split('\n').pop()}`);
    if (m.records !== p.records) reportError(`producer ${p.id} reports ${m.records} records, logger received ${p.records}`);
    maybeFinish();
    return;
  }
  // Counted as received whether or not storage keeps them: the manifest's
  // dropped_records is then exactly received minus stored.
  run.firstRecordAt ??= performance.timeOrigin + performance.now(); // epoch ms: comparable across threads
  p.records += m.buf.byteLength / RECORD_SIZE;
  p.buffers += spent;
  p.sent = Math.max(p.sent, m.seq + spent);
  const prof = run.profile;
  if (!run.failed) {
    const t1 = performance.now();
    try {
      run.sink.append(new Uint8Array(m.buf));
    } catch (e) {
      storageFailed(e);
    }
    prof.appendMs += performance.now() - t1;
  }
  giveCredits(p, spent);
  prof.messages++;
  prof.handleMs += performance.now() - t0;
}

// Nothing more can be stored: say why, and ask the page to stop the run so the
// sims stop producing into a logger that can only count what it drops.
function storageFailed(e) {
  if (!(e instanceof SinkError)) throw e;
  if (run.failed) return;
  run.failed = e.message;
  reportError(`storage failed, records are no longer saved: ${e.message}`);
  post(P.LOG_FAILED, { runId: run.runId, message: e.message });
}

function giveCredits(p, n) {
  p.owed += n;
  if (p.owed >= P.CREDIT_BATCH || run.stopping) returnCredits(p);
}

// A sink that cannot take more (a CLOUD part with nowhere to go) holds the
// credits back; its onReady returns them.
function returnCredits(p) {
  if (!p.owed || !run.sink.ready) return;
  const t = performance.now();
  p.port.postMessage(P.msg(P.CREDIT, { n: p.owed }));
  run.profile.credits++;
  run.profile.creditMs += performance.now() - t;
  p.returned += p.owed;
  p.owed = 0;
}

function stop() {
  if (!run || run.stopping) return;
  run.stopping = true;
  // Producers may be waiting on a partial batch of credits; release them so they can drain.
  for (const p of run.producers.values()) returnCredits(p);
  run.drainTimer = setTimeout(() => {
    const missing = [...run.expected].filter((id) => !run.producers.get(id)?.eof);
    reportError(`drain timed out after ${run.drainTimeoutMs} ms waiting for producer(s) ${missing.join(', ')}`);
    finish();
  }, run.drainTimeoutMs);
  maybeFinish();
}

function maybeFinish() {
  if (run?.stopping && [...run.expected].every((id) => run.producers.get(id)?.eof)) finish();
}

// The run stays current until its sink has closed (CLOUD: every part uploaded
// or queued), so no new run starts and replay waits meanwhile.
async function finish() {
  if (run.finishing) return;
  run.finishing = true;
  const r = run;
  try {
    await closeRun(r);
  } catch (e) {
    await closeFailed(r, e);
  }
}

// A close that throws must still end the run (else it stays 'closing' for good and
// no other can start): say where it failed, free the run, and keep what was
// stored. The lock is held until then, so that no other tab repairs it meanwhile.
async function closeFailed(r, e) {
  const failure = `${r.step}: ${e.message}`;
  reportError(`closing run ${r.runId} failed (${failure})`);
  if (run !== r) return; // it failed after the run had ended
  run = null;
  let manifest = null;
  try {
    if (r.persistent && r.final) manifest = r.stored ? r.final : await storeFailedClose(r, failure);
    else if (r.dir) {
      // as recovery.js repairs any run left open, from what storage holds
      manifest = await repairIfOrphan(r.runId, dlq, `its tab could not close it (${failure})`)
        .catch((err) => reportError(`could not repair run ${r.runId}: ${err.message}`));
    }
  } finally {
    r.releaseLock();
  }
  manifest ??= closeManifest(r.manifest, { producers: [], sink: { bytes: 0, checksum: null, error: failure }, errors });
  closed(manifest, undefined, { partsUploaded: 0, partsQueued: 0 });
}

// The close knew everything but could not store it: store it once more, marked
// failed. If that fails too, the run stays open in runs/ with the close's exact
// counts and the cause in its checkpoint, for the next recovery to repair.
async function storeFailedClose(r, failure) {
  const storage = [r.final.errors.storage, failure].filter(Boolean).join('; ');
  const manifest = { ...r.final, status: 'error', errors: { ...r.final.errors, storage } };
  try {
    await saveManifest(r, manifest, 0);
    await removeIfAny(r.dir, progressName(r.runId));
  } catch (err) {
    reportError(`run ${r.runId} stays open in storage until the next recovery repairs it: ${err.message}`);
    await writeProgress(r, { ...progressOf(r, { bytes: r.final.bytes }), cause: `its tab could not close it (${failure})` });
  }
  return manifest;
}

// The page gets the manifest without the source's edge table (kept in the
// stored manifest): 36,000+ edges as JSON cost the main thread a long task to receive.
function closed(manifest, published, delivery) {
  const { network, ...source } = manifest.source ?? {};
  post(P.LOG_CLOSED, { manifest: network ? { ...manifest, source } : manifest, published, delivery });
  announce(manifest.run_id, manifest.status);
}

async function closeRun(r) {
  r.step = 'closing the sink';
  postStats(); // every producer has drained: these are the run's final totals
  clearTimeout(r.drainTimer);
  for (const p of r.producers.values()) p.port.close();
  const sink = await r.sink.close();
  const producers = [...r.expected].map((id) => {
    const p = r.producers.get(id);
    return {
      id, records: p?.records ?? 0, buffers: p?.buffers ?? 0, reported_records: p?.reported ?? null,
      source: p?.meta?.producer ?? null, stats: p?.stats ?? null, ...(p?.error ? { error: p.error } : {}),
    };
  });
  const manifest = closeManifest({ ...r.manifest, source: r.source }, { producers, sink, errors: structuredClone(errors) });
  r.final = manifest;
  r.step = 'writing the manifest';
  await r.checkpointing;
  if (r.persistent) {
    await saveManifest(r, manifest, 0);
    r.stored = true;
  }
  r.step = 'publishing the manifest';
  let published;
  try {
    published = await r.sink.publish(manifest);
  } catch (e) {
    reportError(`could not upload or queue the manifest of ${r.runId}: ${e.message}`);
  }
  r.step = 'tidying runs/';
  if (r.dir) {
    await r.manifestWrites;
    // A CLOUD run now lives in the bucket (or the DLQ): runs/ forgets it.
    const leftovers = r.persistent ? [progressName(r.runId)] : [progressName(r.runId), manifestName(r.runId)];
    await Promise.all(leftovers.map((n) => removeIfAny(r.dir, n)))
      .catch((e) => reportError(`could not tidy runs/ after ${r.runId}: ${e.message}`));
  }
  r.releaseLock();
  run = null;
  const s = r.sink.stats();
  lastStats.totals = {
    ...lastStats.totals, ...s, bytesWritten: sink.bytes, bytesStaged: 0, dropped: manifest.errors.dropped_records,
  };
  postStats();
  closed(manifest, published, { partsUploaded: s.partsUploaded ?? 0, partsQueued: s.partsToDlq ?? 0 });
}

// Every tab's runs table follows changes made by any tab.
function announce(runId, status) {
  tabs.postMessage(P.msg(P.TAB_RUNS, { runId, status }));
  post(P.LOG_RUNS_CHANGED, { runId, status });
}

tabs.onmessage = (e) => {
  const m = e.data;
  if (m?.type === P.TAB_RUNS) {
    post(P.LOG_RUNS_CHANGED, { runId: m.runId, status: m.status });
    if (m.status === 'open') watch(m.runId);
  } else if (m?.type === P.TAB_DLQ) {
    // another tab queued or replayed entries: count them again, so that this
    // tab shows them and takes its turn replaying them
    dlq.load().catch((err) => reportError(`cannot read the dead-letter queue: ${err.message}`));
  }
};

// Wait for the lock of a run another tab writes: it is granted when that tab
// closes the run (nothing to do) or dies (the run is an orphan: repair it).
function watch(runId) {
  navigator.locks.request(runLock(runId), () => repairIfOrphan(runId, dlq).then((m) => m && onRepaired([m])))
    .catch((e) => reportError(`could not repair run ${runId}: ${e.message}`));
}

function onRepaired(manifests) {
  for (const m of manifests) {
    reportError(`run ${m.run_id} was interrupted (${m.recovery.cause}); recovered ${m.records} whole records`);
    announce(m.run_id, m.status);
  }
}

// "Parts uploaded" counts every part this tab put in the bucket, live or replayed from the DLQ.
const withReplays = (t) => (t.partsUploaded === undefined && !dlq.partsReplayed ? t
  : { ...t, partsUploaded: (t.partsUploaded ?? 0) + dlq.partsReplayed });

function postStats() {
  if (!run) {
    // Idle: keep showing the last run's totals.
    post(P.LOG_STATS, { ...withReplays(lastStats.totals), ...dlq.stats(), state: 'idle', recordsPerSec: 0, buffersInFlight: 0 });
    return;
  }
  const now = performance.now();
  const s = run.sink.stats();
  const records = [...run.producers.values()].reduce((a, p) => a + p.records, 0);
  const dt = (now - lastStats.t) / 1000;
  const totals = {
    ...s, // sink-specific figures (CLOUD: parts, retries, bytes in memory)
    runId: run.runId,
    records,
    bytes: records * RECORD_SIZE,
    bytesWritten: s.bytesWritten,
    bytesStaged: s.bytesStaged,
    writes: s.writes,
    producers: run.producers.size,
    rejected: errors.rejected_messages,
    dropped: records - (s.bytesWritten + s.bytesStaged) / RECORD_SIZE,
    loggerHeldMs: run.heldMs ?? 0,
  };
  post(P.LOG_STATS, {
    ...withReplays(totals),
    ...dlq.stats(),
    state: run.finishing ? 'closing' : run.stopping ? 'draining' : 'logging',
    recordsPerSec: dt > 0 ? (records - lastStats.records) / dt : 0,
    firstRecordAt: run.firstRecordAt ?? null,
    openPhases: run.phases,
    // Where the logger's time went since the run opened (ms of wall time, ms in each step).
    profile: { ...run.profile, wallMs: now - run.profile.openedAt, sink: run.sink.timing },
    // Sent (as far as the newest chunk tells) and not yet credited back: what the
    // producers cannot reuse right now. Bounded by CREDIT_WINDOW per producer.
    buffersInFlight: [...run.producers.values()].reduce((a, p) => a + Math.max(0, p.sent - p.returned), 0),
  });
  lastStats = { t: now, records, totals };
}

const current = () => run && { runId: run.runId, bytes: run.sink.stats().bytesWritten };

async function deleteAndAnnounce({ runId }) {
  await deleteRun(runId, current());
  announce(runId, 'deleted');
}

// The catalogue as retention.js sees it: listing, and removal that every tab hears of.
const catalogue = {
  runs: () => listRuns(current()),
  remove: async (runId) => {
    await deleteRun(runId, current());
    reportError(`retention: removed run ${runId}`);
    announce(runId, 'deleted');
  },
};

async function pin({ runId, pinned }) {
  await setPinned(runId, pinned);
  announce(runId, 'pinned');
}

const REQUESTS = {
  [P.LOG_OPEN]: openRun,
  [P.LOG_LIST]: () => withPins(listRuns(current())),
  [P.LOG_GET]: ({ runId }) => getRun(runId),
  [P.LOG_DELETE]: deleteAndAnnounce,
  [P.LOG_USAGE]: () => storageUsage(catalogue),
  [P.LOG_POLICY]: ({ policy }) => setPolicy(policy, catalogue),
  [P.LOG_PIN]: pin,
};

// In a worker a promise that fails unawaited would fail silently: say so.
self.addEventListener('unhandledrejection', (e) => reportError(`unexpected failure: ${e.reason?.message ?? e.reason}`));

self.onmessage = async (e) => {
  const m = e.data;
  if (Object.hasOwn(REQUESTS, m?.type)) {
    try {
      post(P.LOG_REPLY, { id: m.id, ok: true, result: await REQUESTS[m.type](m) });
    } catch (err) {
      post(P.LOG_REPLY, { id: m.id, ok: false, error: err.message });
    }
    return;
  }
  try {
    switch (m?.type) {
      case P.LOG_CONFIG:
        cloudConfig = m.cloud ?? null;
        break;
      case P.LOG_ATTACH:
        attach(m);
        break;
      case P.LOG_STOP:
        stop();
        break;
      default:
        // Record data only ever arrives on producer ports, never on the control channel.
        reject('the control channel', m?.type === P.CHUNK || m?.type === P.EOF
          ? `${m.type} from an unknown port` : `unknown message type ${JSON.stringify(m?.type)}`);
    }
  } catch (err) {
    reportError(err.message);
  }
};

// How late the timer fires: how long the worker was held (encoding a part, GC, a busy CPU).
let tickAt = performance.now();
setInterval(() => {
  const now = performance.now();
  if (run) run.heldMs = Math.max(run.heldMs ?? 0, now - tickAt - TICK_MS);
  tickAt = now;
  if (!run || run.failed) return;
  const t = performance.now();
  try {
    run.sink.tick();
    if (performance.now() - run.checkpointAt >= CHECKPOINT_MS && !run.finishing) checkpoint(run);
  } catch (e) {
    storageFailed(e);
  }
  run.profile.tickMs += performance.now() - t;
}, TICK_MS);
setInterval(postStats, STATS_MS);

// Dead-letter replay: one entry at a time, only while no live upload runs
// (live parts first), back to back while entries remain and uploads succeed.
async function replay() {
  await dlqLoaded;
  let next = REPLAY_MS;
  if (cloudConfig && dlq.entries && !run?.sink.uploading) {
    try {
      if (await dlq.replayOne(cloudConfig.api)) next = 0;
    } catch (e) {
      reportError(`dead-letter replay: ${e.message}`);
    }
  }
  setTimeout(replay, next);
}
replay();

// Runs left open by a tab that died are repaired as soon as any tab starts.
// Then the retention policy is applied.
dlqLoaded.then(() => recoverOrphans(dlq, reportError)).then(onRepaired)
  .catch((e) => reportError(`recovery of interrupted runs failed: ${e.message}`))
  .then(async () => applyRetention(await loadPolicy(), catalogue))
  .catch((e) => reportError(`retention: ${e.message}`));
