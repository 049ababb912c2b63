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

export class Python {
  pyodide = null;
  bridge = null;
  micropipLoaded = false; // loaded on the first user-code install, not at boot
  // {key, producerPy, meta}: this sim's part of the next run, built and described
  // by prepare() and taken by the start that names the same key.
  prepared = null;

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

  // Build and describe this sim's part before the run opens: bad parameters,
  // code that does not load, a bad edge table or bad stream declarations are
  // refused while nothing is written, and the start only has to send.
  prepare({ key, source }) {
    this.#ready('prepare');
    this.prepared?.producerPy.destroy();
    this.prepared = null;
    let producerPy = null;
    try {
      producerPy = this.bridge.make_producer(JSON.stringify(source));
      this.prepared = { key, producerPy, meta: JSON.parse(this.bridge.describe(producerPy)) };
    } catch (e) {
      producerPy?.destroy();
      throw new Error(pyMessage(e));
    }
    // the logger opens the run with them (a file or parts per stream)
    return { streams: this.prepared.meta.run.streams };
  }

  // The part prepare() built for `key`, handed over once.
  take(key) {
    if (this.prepared?.key !== key) throw new Error('start without a prepared source');
    const { producerPy, meta } = this.prepared;
    this.prepared = null;
    return { producerPy, meta };
  }

  stats(producerPy) {
    return JSON.parse(this.bridge.stats(producerPy));
  }
}
