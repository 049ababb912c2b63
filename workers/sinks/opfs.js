// OPFS sink: appends one stream's records to its file in runs/ (runs/<runId>.bin
// for events, storage.js binName) through one FileSystemSyncAccessHandle.
// Memory is bounded by the staging buffer.
//
// Write policy: incoming buffers are coalesced into STAGING_BYTES and written
// when it is full or its oldest byte is STAGE_MAX_MS old; the handle is
// flush()ed (made durable) at most every FLUSH_MS and at close.
import { createCrc32c } from '../checksum.js';
import { EVENTS } from '../layout.js';
import { crcOfHandle, manifestStreams, repairedManifest } from '../repair.js';
import {
  StorageWriteError, binName, explainOpenError, exists, manifestName, progressName, removeIfAny, runsDir, writeAll, writeJson,
} from '../storage.js';
import { Sink, SinkError } from './base.js';

export const STAGING_BYTES = 256 * 1024;
export const STAGE_MAX_MS = 200;
export const FLUSH_MS = 1000;

export class OpfsSink extends Sink {
  static persistent = true; // writes are synchronous: it is always ready
  static catalogued = true;
  static label = 'OPFS (this browser)';

  // An orphan keeps the whole records of each stream's file: a write cut short
  // by the tab's death is cut off at that stream's record size. Its manifest
  // reuses the space reserved for it.
  static async repair({ dir, manifest, progress, cause }) {
    const kept = [];
    for (const layout of manifestStreams(manifest)) kept.push(await OpfsSink.#repairFile(dir, manifest.run_id, layout));
    const m = repairedManifest(manifest, progress, { streams: kept, cause });
    const name = manifestName(manifest.run_id);
    await writeJson(dir, name, m, { minSize: (await (await dir.getFileHandle(name)).getFile()).size });
    await removeIfAny(dir, progressName(manifest.run_id));
    return m;
  }

  static async #repairFile(dir, runId, layout) {
    const name = binName(runId, layout.name);
    let access;
    try {
      access = await (await dir.getFileHandle(name, { create: true })).createSyncAccessHandle();
    } catch (e) {
      throw new Error(`cannot open ${name} to repair it: ${e.name}: ${e.message}`);
    }
    try {
      const size = access.getSize();
      const cut = size % layout.recordSize;
      if (cut) access.truncate(size - cut);
      access.flush();
      const bytes = size - cut;
      return { bytes, checksum: await crcOfHandle(access, bytes), cut };
    } finally {
      access.close();
    }
  }

  static async open(runId, { layout = EVENTS } = {}) {
    const dir = await runsDir();
    const name = binName(runId, layout.name);
    if (await exists(dir, name)) throw new SinkError(`run ${runId} already exists; refusing to overwrite it`);
    let access;
    try {
      access = await (await dir.getFileHandle(name, { create: true })).createSyncAccessHandle();
    } catch (e) {
      throw new SinkError(explainOpenError(e, name));
    }
    return new OpfsSink(access, await createCrc32c(), name);
  }

  constructor(access, crc, name) {
    super();
    this.name = name;
    this.access = access;
    this.crc = crc;
    this.staging = new Uint8Array(STAGING_BYTES);
    this.staged = 0;
    this.stagedSince = 0;
    this.durable = 0;   // bytes known flushed
    this.written = 0;   // bytes written (file length we own)
    this.writes = 0;
    this.lastFlush = performance.now();
    this.failed = null;
    this.timing = { copyMs: 0, writeMs: 0, crcMs: 0, flushMs: 0 };
  }

  // Synchronous so the logger stays a simple message loop; throws SinkError
  // (and stays failed) if the storage refuses a write.
  append(u8) {
    if (this.failed) throw this.failed;
    if (this.staged + u8.byteLength > STAGING_BYTES) this.#writeStaged();
    if (u8.byteLength >= STAGING_BYTES) {
      this.#write(u8);
      return;
    }
    const t = performance.now();
    if (this.staged === 0) this.stagedSince = t;
    this.staging.set(u8, this.staged);
    this.staged += u8.byteLength;
    this.timing.copyMs += performance.now() - t;
  }

  // Called from the logger's timer.
  tick(now = performance.now()) {
    if (this.failed) return;
    if (this.staged && now - this.stagedSince >= STAGE_MAX_MS) this.#writeStaged();
    if (this.durable !== this.written && now - this.lastFlush >= FLUSH_MS) this.#flush(now);
  }

  // Everything appended so far is written and flushed: a tab that dies now loses none of it.
  checkpoint() {
    if (this.failed) return null;
    this.#writeStaged();
    if (this.durable !== this.written) this.#flush(performance.now());
    return { bytes: this.written };
  }

  // Writes what is staged, makes it durable and releases the handle.
  // Returns the facts the manifest records about the data.
  close() {
    try {
      if (!this.failed) {
        this.#writeStaged();
        this.#flush(performance.now());
      }
    } catch (e) {
      if (!(e instanceof SinkError)) throw e;
    } finally {
      this.access.close();
    }
    return {
      bytes: this.written,
      checksum: { algorithm: 'crc32c', value: this.crc.digest('hex') },
      error: this.failed?.message ?? null,
    };
  }

  stats() {
    return { bytesWritten: this.written, bytesStaged: this.staged, writes: this.writes };
  }

  #writeStaged() {
    if (!this.staged) return;
    this.#write(this.staging.subarray(0, this.staged));
    this.staged = 0;
  }

  #write(u8) {
    const t0 = performance.now();
    try {
      writeAll(this.access, u8, this.written, this.name);
    } catch (e) {
      if (!(e instanceof StorageWriteError)) throw e;
      this.#fail(e.message);
    }
    const t1 = performance.now();
    this.crc.update(u8);
    this.timing.writeMs += t1 - t0;
    this.timing.crcMs += performance.now() - t1;
    this.written += u8.byteLength;
    this.writes++;
  }

  #flush(now) {
    const t = performance.now();
    this.access.flush();
    this.timing.flushMs += performance.now() - t;
    this.durable = this.written;
    this.lastFlush = now;
  }

  #fail(message) {
    // Cut any partial write so the file ends on the last good record.
    try {
      this.access.truncate(this.written);
      this.access.flush();
    } catch {
      /* the error below is what the user needs to see */
    }
    this.staged = 0; // never stored: the manifest counts it as dropped
    this.failed = new SinkError(message);
    throw this.failed;
  }
}
