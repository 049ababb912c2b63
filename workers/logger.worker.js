// Logger worker: owns storage. It routes messages: the page's requests, the
// open run (logger/run.js: producers, credits, checkpoints, close), the tabs of
// the origin (logger/tabs.js), and the timers that drive stats, the run's sink
// and dead-letter replay. The run catalogue, recovery and the DLQ live in their
// own modules.
import * as P from './protocol.js';
import { DeadLetterQueue } from './dlq.js';
import { archiveRun, deleteRun, getRun, listRuns } from './catalogue.js';
import { recoverOrphans } from './recovery.js';
import { applyRetention, loadPolicy, setPinned, setPolicy, storageUsage, withPins } from './retention.js';
import { Reporter } from './logger/report.js';
import { Run } from './logger/run.js';
import { LoggerStats } from './logger/stats.js';
import { Tabs } from './logger/tabs.js';
import { sinkModes } from './sinks/index.js';

const REPLAY_MS = 1000;
const STATS_MS = 500;
const TICK_MS = 50;

const post = (type, fields) => self.postMessage(P.msg(type, fields));
const report = new Reporter(post);
const dlq = new DeadLetterQueue();
const tabs = new Tabs({ post, report, dlq });
dlq.onChange = () => tabs.dlqChanged();
const dlqLoaded = dlq.load().catch((e) => report.error(`cannot read the dead-letter queue: ${e.message}`));
const stats = new LoggerStats({ post, dlq, report });

let run = null;          // the open Run, until it has ended
let opening = null;      // the id of a run being opened: one open at a time
let cloudConfig = null;  // {api, retry?}: where to presign, and DLQ replay

// this tab's open run, as its sinks have written it: every stream, and events alone
const current = () => run && { runId: run.runId, bytes: run.sink.stats().bytesWritten, eventsBytes: run.sink.sinks[0].stats().bytesWritten };

// The catalogue as retention.js sees it: listing, and removal that every tab hears of.
const catalogue = {
  runs: () => listRuns(current()),
  remove: async (runId) => {
    await deleteRun(runId, current());
    report.error(`retention: removed run ${runId}`);
    tabs.announce(runId, 'deleted');
  },
};

const env = {
  post, report, dlq, dlqLoaded, stats, catalogue,
  announce: (runId, status) => tabs.announce(runId, status),
  ended: (r) => { if (run === r) run = null; },
};

async function open(m) {
  if (run) throw new Error(`run ${run.runId} is still open`);
  if (opening) throw new Error(`run ${opening} is being opened`);
  opening = m.runId;
  let r;
  try {
    r = await Run.open(m, env, cloudConfig);
  } finally {
    opening = null;
  }
  run = r;
  tabs.announce(r.runId, 'open');
  stats.reset();
  return r.runId;
}

function attach({ producer, port }) {
  if (!(port instanceof MessagePort)) throw new Error('attach without a MessagePort');
  if (!run) {
    port.close();
    throw new Error(`unknown or duplicate producer ${JSON.stringify(producer)}`);
  }
  run.attach(producer, port);
}

const answer = P.answerer({
  [P.LOG_OPEN]: open,
  [P.LOG_MODES]: sinkModes,
  [P.LOG_LIST]: () => withPins(listRuns(current())),
  [P.LOG_GET]: ({ runId }) => getRun(runId),
  [P.LOG_ARCHIVE]: ({ runId }) => archiveRun(runId),
  [P.LOG_DELETE]: async ({ runId }) => {
    await deleteRun(runId, current());
    tabs.announce(runId, 'deleted');
  },
  [P.LOG_USAGE]: () => storageUsage(catalogue),
  [P.LOG_POLICY]: ({ policy }) => setPolicy(policy, catalogue),
  [P.LOG_PIN]: async ({ runId, pinned }) => {
    await setPinned(runId, pinned);
    tabs.announce(runId, 'pinned');
  },
});

// In a worker a promise that fails unawaited would fail silently: say so.
self.addEventListener('unhandledrejection', (e) => report.error(`unexpected failure: ${e.reason?.message ?? e.reason}`));

self.onmessage = ({ data: m }) => {
  if (answer(m)) return;
  try {
    switch (m?.type) {
      case P.LOG_CONFIG:
        cloudConfig = m.cloud ?? null;
        break;
      case P.LOG_ATTACH:
        attach(m);
        break;
      case P.LOG_STOP:
        run?.stop();
        break;
      default:
        // Record data only ever arrives on producer ports, never on the control channel.
        report.reject('the control channel', m?.type === P.CHUNK || m?.type === P.EOF
          ? `${m.type} from an unknown port` : `unknown message type ${JSON.stringify(m?.type)}`);
    }
  } catch (err) {
    report.error(err.message);
  }
};

// How late the timer fires: how long the worker was held (encoding a part, GC, a busy CPU).
let tickAt = performance.now();
setInterval(() => {
  const now = performance.now();
  if (run) run.heldMs = Math.max(run.heldMs, now - tickAt - TICK_MS);
  tickAt = now;
  run?.tick();
}, TICK_MS);
setInterval(() => stats.send(run), STATS_MS);

// Dead-letter replay: one entry at a time, only while no live upload runs
// (live parts first), back to back while entries remain and uploads succeed.
async function replay() {
  await dlqLoaded;
  let next = REPLAY_MS;
  if (cloudConfig && dlq.entries && !run?.sink.uploading) {
    try {
      if (await dlq.replayOne(cloudConfig.api)) next = 0;
    } catch (e) {
      report.error(`dead-letter replay: ${e.message}`);
    }
  }
  setTimeout(replay, next);
}
replay();

// Runs left open by a tab that died are repaired as soon as any tab starts.
// Then the retention policy is applied.
dlqLoaded.then(() => recoverOrphans(dlq, (message) => report.error(message))).then((ms) => tabs.repaired(ms))
  .catch((e) => report.error(`recovery of interrupted runs failed: ${e.message}`))
  .then(async () => applyRetention(await loadPolicy(), catalogue))
  .catch((e) => report.error(`retention: ${e.message}`));
