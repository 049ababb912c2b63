// The batched alternative's storage worker: one message per model step arrives
// on each sim's port, as columns (typed arrays) or as JSON-lines text, and is
// appended to one OPFS file of JSON lines through a FileSystemSyncAccessHandle
// (OPFS's fast, synchronous API, which only a worker gets). Each message is
// acked once written. flush() once a second and at the end, as vpslog's logger does.
const DIR = 'alternative';
const FLUSH_MS = 1000;
const encoder = new TextEncoder();

let run = null;

// A step's columns as JSON lines, keys in field order (as steplog.py writes them).
function lines(names, columns) {
  const keys = names.map((n, k) => (k ? ',' : '{') + JSON.stringify(n) + ':');
  let out = '';
  for (let i = 0; i < columns[0].length; i++) {
    for (let k = 0; k < keys.length; k++) out += keys[k] + columns[k][i];
    out += '}\n';
  }
  return out;
}

function write(m, names) {
  const r = run;
  const t0 = performance.now();
  const bytes = encoder.encode(m.text ?? lines(names, m.columns));
  const t1 = performance.now();
  const n = r.handle.write(bytes, { at: r.size });
  // Chrome at its quota may report a bogus count instead of throwing: check every write.
  if (n !== bytes.byteLength) throw new Error(`${DIR}/${r.file}: wrote ${n} of ${bytes.byteLength} bytes`);
  r.size += n;
  r.stored += m.n;
  const t2 = performance.now();
  if (t2 - r.flushedAt >= FLUSH_MS) {
    r.handle.flush();
    r.flushedAt = performance.now();
  }
  r.ms.encode += t1 - t0;
  r.ms.write += performance.now() - t1;
}

function onMessage(port, m) {
  const r = run;
  if (m.names) port.names = m.names;
  else if ('eof' in m) {
    r.expected += m.eof;
    r.open--;
  } else {
    write(m, port.names);
    port.postMessage({ acked: m.n });
  }
  if (r.open === 0 && r.stored === r.expected) {
    r.handle.flush();
    r.handle.close();
    postMessage({ type: 'done', stored: r.stored, expected: r.expected, usage: r.size, ms: r.ms });
  }
}

async function open(name, ports) {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(DIR, { create: true });
  const file = `${name}.jsonl`;
  const handle = await (await dir.getFileHandle(file, { create: true })).createSyncAccessHandle();
  handle.truncate(0);
  run = { file, handle, size: 0, stored: 0, expected: 0, open: ports.length, flushedAt: performance.now(), ms: { encode: 0, write: 0 } };
  for (const port of ports) port.onmessage = (e) => {
    try {
      onMessage(port, e.data);
    } catch (err) {
      postMessage({ type: 'error', message: String(err?.stack ?? err) });
    }
  };
}

self.onmessage = async (e) => {
  const m = e.data;
  try {
    if (m.type === 'open') {
      await open(m.name, m.ports);
      postMessage({ type: 'opened' });
    } else if (m.type === 'drop') {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(DIR);
      await dir.removeEntry(`${m.name}.jsonl`);
      postMessage({ type: 'dropped' });
    }
  } catch (err) {
    postMessage({ type: 'error', message: String(err?.stack ?? err) });
  }
};
