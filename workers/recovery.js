// Repair of orphaned runs: a run whose manifest still says `open` although no
// tab holds its Web Lock (the writing tab was reloaded, closed or crashed).
// The writer holds runLock(runId) for the run's whole life, so a free lock is
// exact proof that nobody writes it any more; the repair itself runs while
// holding that lock, so two tabs never repair the same run. What a repair keeps
// is the sink's to say (its static repair()).
import { runLock } from './locks.js';
import { sinkFor } from './sinks/index.js';
import { manifestName, progressName, readJsonIfAny, runsDir } from './storage.js';

// Call only while holding runLock(runId): then nobody writes the run, and a
// manifest that still says `open` belongs to a writer that died (or, with a
// `cause`, to this tab's writer, whose close failed).
export async function repairIfOrphan(runId, dlq, cause) {
  const dir = await runsDir();
  const manifest = await readJsonIfAny(dir, manifestName(runId));
  if (manifest?.status !== 'open') return null; // closed, repaired by another tab, or deleted
  const Sink = sinkFor(manifest.mode);
  if (!Sink?.catalogued) throw new Error(`run ${runId} has mode ${JSON.stringify(manifest.mode)}, which no sink here repairs`);
  const progress = await readJsonIfAny(dir, progressName(runId), { torn: null }) /* a torn checkpoint is no checkpoint */;
  return Sink.repair({ dir, manifest, progress, cause, dlq });
}

// Repair every orphan in runs/; returns the repaired manifests. Runs whose lock
// is held (written by a live tab) are left alone.
export async function recoverOrphans(dlq, onError = () => {}) {
  const dir = await runsDir();
  const open = [];
  for await (const [name, handle] of dir.entries()) {
    if (!name.endsWith('.manifest.json')) continue;
    try {
      const m = JSON.parse(await (await handle.getFile()).text());
      if (m.status === 'open') open.push(m.run_id);
    } catch {
      /* the catalogue reports unreadable manifests */
    }
  }
  const repaired = [];
  for (const runId of open) {
    await navigator.locks.request(runLock(runId), { ifAvailable: true }, async (lock) => {
      if (!lock) return;
      try {
        const m = await repairIfOrphan(runId, dlq);
        if (m) repaired.push(m);
      } catch (e) {
        onError(`could not repair run ${runId}: ${e.message}`);
      }
    });
  }
  return repaired;
}
