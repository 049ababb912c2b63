// The logger of every tab of the origin hears of every other's runs: each tab's
// runs table follows them, a run another tab writes is watched (its lock is
// granted when that tab closes it, or dies: then it is an orphan to repair), and
// a DLQ another tab changed is counted again.
import * as P from '../protocol.js';
import { CHANNEL, runLock } from '../locks.js';
import { repairIfOrphan } from '../recovery.js';

export class Tabs {
  channel = new BroadcastChannel(CHANNEL);

  constructor({ post, report, dlq }) {
    Object.assign(this, { post, report, dlq });
    this.channel.onmessage = (e) => this.#onMessage(e.data);
  }

  announce(runId, status) {
    this.channel.postMessage(P.msg(P.TAB_RUNS, { runId, status }));
    this.post(P.LOG_RUNS_CHANGED, { runId, status });
  }

  dlqChanged() {
    this.channel.postMessage(P.msg(P.TAB_DLQ));
  }

  #onMessage(m) {
    if (m?.type === P.TAB_RUNS) {
      this.post(P.LOG_RUNS_CHANGED, { runId: m.runId, status: m.status });
      if (m.status === 'open') this.#watch(m.runId);
    } else if (m?.type === P.TAB_DLQ) {
      // another tab queued or replayed entries: count them again, so that this
      // tab shows them and takes its turn replaying them
      this.dlq.load().catch((err) => this.report.error(`cannot read the dead-letter queue: ${err.message}`));
    }
  }

  #watch(runId) {
    navigator.locks.request(runLock(runId), () => repairIfOrphan(runId, this.dlq).then((m) => m && this.repaired([m])))
      .catch((e) => this.report.error(`could not repair run ${runId}: ${e.message}`));
  }

  repaired(manifests) {
    for (const m of manifests) {
      const records = (m.streams ?? [m]).reduce((a, s) => a + s.records, 0);
      this.report.error(`run ${m.run_id} was interrupted (${m.recovery.cause}); recovered ${records} whole records`);
      this.announce(m.run_id, m.status);
    }
  }
}
