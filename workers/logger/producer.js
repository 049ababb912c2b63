// One producer (a sim's port) of a run, as the logger sees it: what it sent,
// what it was credited, how it ended.
import * as P from '../protocol.js';

export class Producer {
  buffers = 0;
  owed = 0;         // credits earned and not yet returned (batched)
  returned = 0;
  sent = 0;         // buffers sent, as far as the newest chunk tells
  eof = false;
  reported = null;  // the record count of each stream its eof reported
  meta = null;      // {run, producer}: the source's description
  refused = null;   // why its records are not stored (it declared other streams than the run's)
  stats = null;
  error = null;     // the model's traceback

  constructor(id, port, streams) {
    this.id = id;
    this.port = port;
    this.counts = new Array(streams).fill(0); // records received of each stream, whether or not storage kept them
  }

  get records() {
    return this.counts.reduce((a, n) => a + n, 0);
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
  // `records` counts its events, as manifests always have; every stream's count is in streams[].producers.
  static manifestRow(id, p) {
    return {
      id, records: p?.counts[0] ?? 0, buffers: p?.buffers ?? 0, reported_records: p?.reported?.[0] ?? null,
      source: p?.meta?.producer ?? null, stats: p?.stats ?? null,
      ...(p?.error ? { error: p.error } : {}), ...(p?.refused ? { refused: p.refused } : {}),
    };
  }
}
