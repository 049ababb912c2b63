// The one interface every storage strategy implements, with a default for each
// member (the way wa-sqlite's FacadeVFS does for its VFSes): a sink overrides
// what it does differently, and the logger calls every member without probing.
// A sink stores ONE stream of a run (opts.layout); sinks/streams.js drives a
// run's sinks, one per stream, as one.
//
//   static persistent  the run's records live in OPFS runs/ (storage.js binName)
//   static catalogued  its manifest lives in runs/ while it is open (listed, recoverable)
//   static label       how the page names the mode; null: not offered on the page (null sink: the bench's)
//   static serverRun   the server creates the run and grants its capability (POST /api/runs)
//   static open(runId, {layout, cloud, dlq})  -> a sink of that stream, or throws SinkError
//   static repair({dir, manifest, progress, cause, dlq})  -> the manifest of an orphaned
//                      run (open, its writer gone), every stream repaired from what survived
//   static publish(manifest, sinks)  -> 'uploaded' | 'queued' | undefined: the closed run
//                      leaves the browser (its sinks: one per stream, closed)
//   static downloadRefusal(runId)  why a run of this mode in runs/ cannot be downloaded, or null
//   static whereStored(manifest, published, delivery)  what the page adds, after a run
//                      closed, about where its records are
//   ready              false while the sink cannot take more: the logger holds credits
//   onReady()          set by the logger; the sink calls it when ready again
//   uploading          true while records are on their way out of the browser
//   append(u8)         whole records of its stream; synchronous; throws SinkError once storage refuses
//   tick(now)          the logger's timer: time-based writes and flushes
//   checkpoint()       what survives if the tab dies now: {bytes, parts?, run?} or null;
//                      the OPFS sink first makes everything appended durable
//   close()            -> {bytes, checksum, error, parts?} (may be async)
//   stats()            -> {bytesWritten, bytesStaged, writes, ...sink-specific figures}
//   timing             {name: ms} spent in each storage step, for the logger's profile; null if not measured

export class SinkError extends Error {}

export class Sink {
  static persistent = false;
  static catalogued = false;
  static label = null;
  static serverRun = false;

  static async open() {
    throw new SinkError(`${this.name} cannot open runs`);
  }

  static async repair({ manifest }) {
    throw new Error(`${this.name} cannot repair run ${manifest.run_id}`);
  }

  static downloadRefusal() {
    return null;
  }

  static whereStored() {
    return '';
  }

  static async publish() {
    return undefined;
  }

  onReady = () => {};

  timing = null;

  // Accessors, not fields: a subclass's getter must not be shadowed by an own property.
  get ready() {
    return true;
  }

  get uploading() {
    return false;
  }

  append() {
    throw new SinkError(`${this.constructor.name} cannot store records`);
  }

  tick() {}

  checkpoint() {
    return null;
  }

  close() {
    return { bytes: 0, checksum: null, error: null };
  }

  stats() {
    return { bytesWritten: 0, bytesStaged: 0, writes: 0 };
  }
}
