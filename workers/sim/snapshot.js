// Pyodide memory snapshots kept in OPFS cache/, one per Pyodide + vpslog wheel.
// The snapshot API is private (underscored): trusted only with the Pyodide it was written for.
const PYODIDE = '314.0.7';
const DIR = 'cache';
const PREFIX = 'pyodide-snapshot-';

// The cache file for this Pyodide and wheel, or null when snapshots cannot be trusted.
export const snapshotName = (version, wheelSha256) =>
  (version === PYODIDE ? `${PREFIX}${version}-vpslog-${wheelSha256.slice(0, 16)}.bin` : null);

async function cacheDir() {
  return (await navigator.storage.getDirectory()).getDirectoryHandle(DIR, { create: true });
}

export async function readSnapshot(name) {
  try {
    return new Uint8Array(await (await (await (await cacheDir()).getFileHandle(name)).getFile()).arrayBuffer());
  } catch {
    return null; // not made yet
  }
}

export async function dropSnapshot(name) {
  await (await cacheDir()).removeEntry(name).catch(() => {});
}

// One sim writes the snapshot (a Web Lock), under a temporary name moved into
// place when whole, and drops snapshots of other versions.
export async function writeSnapshot(name, bytes) {
  await navigator.locks.request(`vpslog-${name}`, { ifAvailable: true }, async (held) => {
    if (!held) return;
    const dir = await cacheDir();
    const tmp = await dir.getFileHandle(`${name}.tmp`, { create: true });
    const w = await tmp.createWritable();
    await w.write(bytes);
    await w.close();
    await tmp.move(dir, name);
    for await (const old of dir.keys()) if (old.startsWith(PREFIX) && old !== name) await dropSnapshot(old);
  });
}
