// One producer (a sim's port) of a run, as the logger sees it: what it sent,
// what it was credited, how it ended.
import * as P from '../protocol.js';

export class Producer {
  records = 0;      // received, whether or not storage kept them
  buffers = 0;
  owed = 0;         // credits earned and not yet returned (batched)
  returned = 0;
  sent = 0;         // buffers sent, as far as the newest chunk tells
  eof = false;
  reported = null;  // the record count its eof reported
  meta = null;      // {run, producer}: the source's description
  stats = null;
  error = null;     // the model's traceback

  constructor(id, port) {
    this.id = id;
    this.port = port;
  }

  // Credits go back in batches, all at once while the run drains, and only
  // while the sink can take more (a CLOUD part with nowhere to go holds them).
  give(n, { draining, ready }, profile) {
    this.owed += n;
    if (this.owed >= P.CREDIT_BATCH || draining) this.returnCredits(ready, profile);
  }

  returnCredits(ready, profile) {
    if (!this.owed || !ready) return;
    const t = performance.now();
    this.port.postMessage(P.msg(P.CREDIT, { n: this.owed }));
    profile.credits++;
    profile.creditMs += performance.now() - t;
    this.returned += this.owed;
    this.owed = 0;
  }

  // Its row in the closed run's manifest (`id` may never have attached: null producer).
  static manifestRow(id, p) {
    return {
      id, records: p?.records ?? 0, buffers: p?.buffers ?? 0, reported_records: p?.reported ?? null,
      source: p?.meta?.producer ?? null, stats: p?.stats ?? null, ...(p?.error ? { error: p.error } : {}),
    };
  }
}
