// Runs inside a real worker (OPFS sync handles exist only there): drives one
// storage strategy through the Sink interface and reports what it saw. The
// same script runs for every strategy (tests/web/test_sinks.py).
import { createCrc32c } from '../../workers/checksum.js';
import { DeadLetterQueue } from '../../workers/dlq.js';
import { BUILTIN, resolve } from '../../workers/layout.js';
import { binName, runsDir } from '../../workers/storage.js';
import { Sink } from '../../workers/sinks/base.js';
import { sinkFor } from '../../workers/sinks/index.js';
import { createRun } from '../../workers/upload.js';

// stream: a built-in stream's name, or [name, fields] of a declared one
self.onmessage = async ({ data: { mode, api, apiToken, runId: localId, bytes, stream } }) => {
  try {
    const Strategy = sinkFor(mode);
    const dlq = await new DeadLetterQueue().load();
    // A CLOUD run is created by the server, which picks its id and grants its capability.
    const run = Strategy.serverRun ? await createRun(api, apiToken) : null;
    const runId = run?.runId ?? localId;
    const layout = Array.isArray(stream) ? resolve(...stream) : BUILTIN[stream];
    const sink = await Strategy.open(runId, { cloud: { api, run }, dlq, layout });
    const data = new Uint8Array(bytes);
    for (let i = 0; i < data.byteLength; i++) data[i] = (i * 7 + (i >> 10)) & 0xff;
    const crc = await createCrc32c();
    crc.update(data);
    const seen = { runId, isSink: sink instanceof Sink, persistent: Strategy.persistent, catalogued: Strategy.catalogued, readyAtOpen: sink.ready };
    // Buffers of whole records, as producers send them: one buffer at a time.
    const step = layout.bufferBytes;
    for (let off = 0; off < data.byteLength; off += step) {
      sink.append(data.slice(off, off + step));
      sink.tick();
    }
    const cp = sink.checkpoint();
    seen.checkpoint = cp && { bytes: cp.bytes };
    seen.statsKeys = Object.keys(sink.stats());
    while (!sink.ready) await new Promise((r) => setTimeout(r, 20));
    const closed = await sink.close();
    seen.closed = { bytes: closed.bytes, checksum: closed.checksum, error: closed.error, parts: closed.parts ?? null };
    seen.expectedChecksum = crc.digest('hex');
    seen.published = (await Strategy.publish({ run_id: runId, note: 'sink behaviour test' }, [sink])) ?? null;
    seen.uploadingAfterClose = sink.uploading;
    // After close every byte is safe: a checkpoint's parts (CLOUD) carry the run's
    // CRC32C through their last byte, which recovery writes into the manifest.
    const after = sink.checkpoint();
    seen.checkpointAfterClose = after && { bytes: after.bytes };
    let end = 0;
    seen.throughOk = [];
    for (const part of after?.parts ?? []) {
      end += part.bytes;
      const c = await createCrc32c();
      c.update(data.subarray(0, end));
      seen.throughOk.push(c.digest('hex') === part.through);
    }
    if (Strategy.persistent) {
      const file = await (await (await runsDir()).getFileHandle(binName(runId, layout.name))).getFile();
      const back = new Uint8Array(await file.arrayBuffer());
      seen.storedEqual = back.byteLength === data.byteLength && back.every((b, i) => b === data[i]);
    }
    self.postMessage(seen);
  } catch (e) {
    self.postMessage({ error: `${e.name}: ${e.message}` });
  }
};
