// This sim's Python: boots Pyodide (from a cached memory snapshot when there is
// one), installs vpslog and the user's code, and builds this sim's part of the
// next run. Python exceptions leave here as Errors with the model's message.
import { dropSnapshot, readSnapshot, snapshotName, writeSnapshot } from './snapshot.js';

const USER_DIR = '/tmp/vpslog-user';
const io = { stdout: (s) => console.log(`[py] ${s}`), stderr: (s) => console.warn(`[py] ${s}`) };

// The message of a Python exception without the bridge's own frames.
export function pyMessage(e) {
  const last = String(e?.message ?? e).trim().split('\n').pop();
  return last.replace(/^(vpslog\.\w+\.)?(SourceError|InstallError|ValueError): /, '');
}

async function sha256(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// A sim's part of a run when the model is Python: the bridge's Producer, seen
// through the interface SimRun drives (a JS model's is sim/jspart.js).
//   produce(maxBuffers, untilMs) / flush() -> {segments: [{stream, data, owned}], release()}
//   over, exhausted, simTimeMs, error, meta, view() -> [edges, occupancy] | null, stats(), destroy()
export class PyPart {
  constructor(bridge, producerPy) {
    Object.assign(this, { bridge, py: producerPy, meta: JSON.parse(bridge.describe(producerPy)) });
  }

  produce(maxBuffers, untilMs) {
    return PyPart.#segments(this.py.produce(maxBuffers, untilMs));
  }

  flush() {
    return PyPart.#segments(this.py.flush());
  }

  // Python's bytes, read in place in the wasm heap (docs/streams.md: uint32 stream
  // index, uint32 length, then that stream's records); SimRun copies them out.
  static #segments(bytesPy) {
    const view = bytesPy.getBuffer('u8');
    const { data } = view;
    const head = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const segments = [];
    for (let off = 0; off < data.byteLength;) {
      const end = off + 8 + head.getUint32(off + 4, true);
      if (end > data.byteLength) throw new Error(`Python gave a malformed segment (ending at ${end} of ${data.byteLength} bytes)`);
      segments.push({ stream: head.getUint32(off, true), data: data.subarray(off + 8, end), owned: false });
      off = end;
    }
    return { segments, release: () => { view.release(); bytesPy.destroy(); } };
  }

  get over() { return this.py.over; }
  get exhausted() { return this.py.exhausted; }
  get simTimeMs() { return this.py.sim_time_ms; }
  get error() { return this.py.error ?? null; }

  view() {
    let v = null;
    try {
      v = this.py.view();
      const u16 = new Uint16Array(v.toJs().slice().buffer);
      return u16.length ? [u16.slice(0, u16.length / 2), u16.slice(u16.length / 2)] : null;
    } catch (e) {
      throw new Error(pyMessage(e));
    } finally {
      v?.destroy();
    }
  }

  stats() {
    return JSON.parse(this.bridge.stats(this.py));
  }

  destroy() {
    this.py.destroy();
  }
}

export class Python {
  pyodide = null;
  bridge = null;
  micropipLoaded = false; // loaded on the first user-code install, not at boot

  // -> {bootMode, python, sources, interruptible}; progress(stage, detail) as it goes
  async boot({ indexURL, interrupt, snapshots = true }, progress) {
    progress('loading Python runtime', 'Pyodide core');
    const { loadPyodide, version } = await import(/* @vite-ignore */ `${indexURL}pyodide.mjs`);
    const lock = await (await fetch(`${indexURL}pyodide-lock.json`)).json();
    const wheel = lock.packages?.vpslog;
    if (!wheel) throw new Error('vpslog is not in the staged Pyodide lock: run scripts/stage_pyodide.py');
    const snap = snapshots ? snapshotName(version, wheel.sha256) : null;
    const restored = snap && (await this.#restore(loadPyodide, indexURL, snap, progress));
    if (!restored) await this.#fresh(loadPyodide, indexURL, wheel, snap, progress);
    // Every interpreter restored from one snapshot starts with the same random state.
    this.bridge.reseed();
    // Stop writes SIGINT here when a model step does not yield (needs cross-origin isolation).
    if (interrupt) {
      this.pyodide.setInterruptBuffer(new Int32Array(interrupt));
      this.bridge.enable_interrupts();
    }
    return {
      bootMode: restored ? 'snapshot' : 'fresh',
      python: this.pyodide.runPython('import sys; sys.version.split()[0]'),
      sources: JSON.parse(this.bridge.builtin_sources()),
      interruptible: !!interrupt,
    };
  }

  async #restore(loadPyodide, indexURL, snap, progress) {
    const saved = await readSnapshot(snap);
    if (!saved) return false;
    progress('restoring Python', 'memory snapshot');
    try {
      this.pyodide = await loadPyodide({ indexURL, _loadSnapshot: saved, ...io });
      this.bridge = this.pyodide.pyimport('vpslog.bridge');
      return true;
    } catch (e) {
      console.warn('[vpslog sim] memory snapshot unusable, booting afresh:', e);
      this.pyodide = this.bridge = null;
      await dropSnapshot(snap);
      return false;
    }
  }

  async #fresh(loadPyodide, indexURL, wheel, snap, progress) {
    progress('loading Python runtime', 'Pyodide core (about 4–6 s)');
    this.pyodide = await loadPyodide({ indexURL, _makeSnapshot: !!snap, ...io });
    progress('installing vpslog', 'wheel checked against the local lock');
    const bytes = new Uint8Array(await (await fetch(`${indexURL}${wheel.file_name}`)).arrayBuffer());
    if (await sha256(bytes) !== wheel.sha256) throw new Error(`${wheel.file_name} does not match its sha256 in the lock`);
    // Unpacked by Python itself: loadPackage leaves JS references that a memory snapshot cannot hold.
    this.pyodide.FS.writeFile('/tmp/vpslog.whl', bytes);
    this.pyodide.runPython('import site, zipfile; zipfile.ZipFile("/tmp/vpslog.whl").extractall(site.getsitepackages()[0])');
    this.bridge = this.pyodide.pyimport('vpslog.bridge');
    this.bridge.builtin_sources(); // imports every built-in source, so a snapshot holds them
    if (snap) await writeSnapshot(snap, this.pyodide.makeMemorySnapshot()).catch((e) => console.warn('[vpslog sim] snapshot not saved:', e));
  }

  #ready(what) {
    if (!this.bridge) throw new Error(`${what} before the Python runtime is ready`);
  }

  // User code -> {file, sha256, version, modules, entry}
  async install({ file, bytes }) {
    this.#ready('install');
    if (!this.micropipLoaded) {
      await this.pyodide.loadPackage('micropip', { messageCallback: () => {} });
      this.micropipLoaded = true;
    }
    if (!/^[\w.+-]+\.(py|whl)$/.test(file)) throw new Error(`${file}: choose a .py file or a pure-Python wheel (.whl)`);
    this.pyodide.FS.mkdirTree(USER_DIR);
    const path = `${USER_DIR}/${file}`;
    this.pyodide.FS.writeFile(path, new Uint8Array(bytes));
    try {
      return JSON.parse(await this.bridge.install_user_code(path));
    } catch (e) {
      throw new Error(pyMessage(e));
    }
  }

  declare({ spec }) {
    try {
      return JSON.parse(this.bridge.declare(spec));
    } catch (e) {
      throw new Error(pyMessage(e));
    }
  }

  // This sim's part of a run, built and described (a PyPart): bad parameters, code
  // that does not load, a bad edge table or bad stream declarations fail here.
  part(source) {
    this.#ready('prepare');
    let producerPy = null;
    try {
      producerPy = this.bridge.make_producer(JSON.stringify(source));
      return new PyPart(this.bridge, producerPy);
    } catch (e) {
      producerPy?.destroy();
      throw new Error(pyMessage(e));
    }
  }
}
