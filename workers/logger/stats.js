// The logger's figures for the page, twice a second: the run's totals and
// rate, where its time went, and the credits in flight; the last run's totals
// while idle.
import * as P from '../protocol.js';

const NO_TOTALS = { runId: null, records: 0, bytes: 0, bytesWritten: 0, bytesStaged: 0, writes: 0, producers: 0, rejected: 0, dropped: 0 };

export class LoggerStats {
  last = { t: performance.now(), records: 0, totals: NO_TOTALS };

  constructor({ post, dlq, report }) {
    Object.assign(this, { post, dlq, report });
  }

  // A run opened: its rate counts from now.
  reset() {
    this.last = { t: performance.now(), records: 0, totals: NO_TOTALS };
  }

  // A run closed: these totals stay on show.
  closed(totals) {
    this.last.totals = { ...this.last.totals, ...totals };
  }

  // "Parts uploaded" counts every part this tab put in the bucket, live or replayed from the DLQ.
  #withReplays(t) {
    const replayed = this.dlq.partsReplayed;
    return t.partsUploaded === undefined && !replayed ? t : { ...t, partsUploaded: (t.partsUploaded ?? 0) + replayed };
  }

  send(run) {
    if (!run) {
      this.post(P.LOG_STATS, { ...this.#withReplays(this.last.totals), ...this.dlq.stats(), state: 'idle', recordsPerSec: 0, buffersInFlight: 0 });
      return;
    }
    const now = performance.now();
    const s = run.sink.stats();
    const producers = [...run.producers.values()];
    // per stream: received, and how many of them storage has (written or staged)
    const streams = run.layouts.map((l, i) => {
      const st = run.sink.sinks[i].stats();
      const received = producers.reduce((a, p) => a + p.counts[i], 0);
      return { name: l.name, records: received, bytes: received * l.recordSize, dropped: received - (st.bytesWritten + st.bytesStaged) / l.recordSize };
    });
    const sum = (k) => streams.reduce((a, x) => a + x[k], 0);
    const records = sum('records');
    const dt = (now - this.last.t) / 1000;
    const totals = {
      ...s, // sink-specific figures (CLOUD: parts, retries, bytes in memory), summed over the streams
      runId: run.runId, records, bytes: sum('bytes'), streams: streams.map(({ name, records: n }) => ({ name, records: n })),
      bytesWritten: s.bytesWritten, bytesStaged: s.bytesStaged, writes: s.writes,
      producers: run.producers.size, rejected: this.report.rejected_messages,
      dropped: sum('dropped'),
      loggerHeldMs: run.heldMs,
    };
    this.post(P.LOG_STATS, {
      ...this.#withReplays(totals), ...this.dlq.stats(),
      sentAt: Date.now(), // a logger that stopped answering shows as stale figures
      state: run.finishing ? 'closing' : run.stopping ? 'draining' : 'logging',
      // what a close is doing (and, if it never ends, where it hangs: an open question, see the docs' testing page)
      closeStep: run.step,
      recordsPerSec: dt > 0 ? (records - this.last.records) / dt : 0,
      firstRecordAt: run.firstRecordAt,
      openPhases: run.phases,
      // Where the logger's time went since the run opened (ms of wall time, ms in each step).
      profile: { ...run.profile, wallMs: now - run.profile.openedAt, sink: run.sink.timing },
      // Sent (as far as the newest chunk tells) and not yet credited back: what the
      // producers cannot reuse right now. Bounded by CREDIT_WINDOW per producer.
      buffersInFlight: producers.reduce((a, p) => a + Math.max(0, p.sent - p.returned), 0),
    });
    this.last = { t: now, records, totals };
  }
}
