// Page UI: reads the form, drives the Pipeline, renders what it reports.
import { Pipeline, MAX_SIMS } from './pipeline.js';
import { SourcePanel } from './sources.js';
import { LiveView } from './view.js';
import { CREDIT_WINDOW } from '../workers/protocol.js';
import { DEFAULT_ENCODING, ENCODINGS } from '../workers/encoding.js';
import { selectForRemoval } from '../workers/retention.js';

const $ = (sel) => document.querySelector(sel);
const form = $('#run-form');
const startBtn = $('#start');
const stopBtn = $('#stop');
const pipeline = new Pipeline();
const sources = new SourcePanel(form, pipeline, (e) => addError(e));
const view = new LiveView($('#live'), pipeline);
// For the console, tests and the bench; the page itself never needs it.
window.vpslog = { pipeline, view };
const BOOT_ESTIMATE_MS = 5000;

const fmt = new Intl.NumberFormat('en-US');
const fmtBytes = (n) => (n == null ? '—' : n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB`
  : n < 1 << 30 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / (1 << 30)).toFixed(1)} GiB`);

// Validates the common inputs against their own min/max/step attributes, so the
// limits live in one place (index.html); the source panel reads the source's
// declared parameters, and Python re-checks everything before a run opens.
// An input's name as the form shows it (its label's text), for messages about it.
const labelOf = (input) => input.closest('label').firstChild.textContent.trim();

function readForm() {
  const problems = [];
  const value = (input) => {
    const label = labelOf(input);
    const v = Number(input.value);
    const integer = input.step !== 'any';
    if (input.value.trim() === '' || !Number.isFinite(v) || v < Number(input.min) || v > Number(input.max) || (integer && !Number.isInteger(v))) {
      problems.push(`${label} must be ${integer ? 'a whole number ' : ''}from ${input.min} to ${input.max}`);
    }
    return v;
  };
  const el = form.elements;
  const { source, problems: sourceProblems } = sources.read();
  problems.push(...sourceProblems);
  const cfg = { mode: el.mode.value || undefined, workers: value(el.workers), pace: el.pace.value, durationS: value(el.durationS),
    source: source && { ...source, seed: value(el.seed) }, apiToken: el.apiToken.value.trim(),
    cloud: { encoding: el.encoding.value } };
  return { cfg, problems };
}

// The API token stays in this origin's localStorage and travels only as an
// Authorization header (never in a URL).
// CLOUD part encodings, from py/vpslog/part_encoding.json (the default first).
for (const name of [DEFAULT_ENCODING, ...Object.keys(ENCODINGS).filter((n) => n !== DEFAULT_ENCODING)]) {
  form.elements.encoding.add(new Option(name === DEFAULT_ENCODING ? `${name} (default)` : name, name));
}

// Storage modes, as the logger's sinks name them (a sink without a label is the bench's).
pipeline.sinkModes().then((modes) => {
  for (const m of modes.filter((s) => s.label)) form.elements.mode.add(new Option(m.label, m.mode, m.default, m.default));
}, (e) => addError({ source: 'logger', message: `no storage modes: ${e.message}` }));

const TOKEN_KEY = 'vpslog.apiToken';
form.elements.apiToken.value = localStorage.getItem(TOKEN_KEY) ?? '';
form.elements.apiToken.addEventListener('change', () => localStorage.setItem(TOKEN_KEY, form.elements.apiToken.value.trim()));

// What a refusal from the API means for the user, in plain words.
const REFUSALS = {
  401: 'The server requires an API token: enter it in "API token".',
  403: 'The server refused this API token: check it.',
  429: 'Too many runs for this API token: try again later.',
};

function showFormError(text) {
  const el = $('#form-error');
  el.textContent = text ?? '';
  el.hidden = !text;
}

function addError({ source, message }) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${source}: ${message}`;
  $('#errors').prepend(li);
}

// Sim rows and stats items are built once and updated in place: they change
// several times a second during a run, and rebuilding them costs the main
// thread style and layout work in the frames the live view needs.
const simRows = [];
function renderSims() {
  const now = performance.now();
  const ul = $('#sims');
  pipeline.sims.forEach((s, i) => {
    if (!simRows[i]) {
      const li = document.createElement('li');
      const label = document.createElement('span');
      label.textContent = `sim ${s.id}`;
      simRows[i] = { li, bar: document.createElement('progress'), text: document.createElement('span') };
      li.append(label, simRows[i].bar, simRows[i].text);
      ul.append(li);
    }
    const { li, bar, text } = simRows[i];
    li.dataset.state = s.state;
    let title = '';
    let content;
    if (s.state === 'booting') {
      const elapsed = now - s.bootStart;
      bar.max = 1;
      bar.value = Math.min(elapsed / BOOT_ESTIMATE_MS, 0.95);
      content = `${s.stage}… ${(elapsed / 1000).toFixed(1)} s`;
    } else if (s.state === 'failed') {
      bar.max = 1;
      bar.value = 0;
      content = 'failed (see errors)';
    } else {
      bar.max = CREDIT_WINDOW;
      bar.value = s.state === 'running' ? s.status?.inFlight ?? 0 : 0;
      title = 'buffers in flight';
      content = s.state === 'running'
        ? `${fmt.format(s.status?.records ?? 0)} records · ${s.status?.inFlight ?? 0}/${CREDIT_WINDOW} in flight`
        : `Python ${s.python} ready (${s.bootMode === 'snapshot' ? 'from a memory snapshot' : 'booted'} in ${(s.bootMs / 1000).toFixed(1)} s)`
          + (s.id >= Number(form.elements.workers.value) ? ' · not used by the next run (Sim workers is lower)' : '');
    }
    bar.title = title;
    if (text.textContent !== content) text.textContent = content;
  });
}

function renderStats(s) {
  const items = [
    ['State', s.state],
    ['Records', fmt.format(s.records) + (s.streams?.length > 1 ? ` (${s.streams.map((x) => `${x.name} ${fmt.format(x.records)}`).join(' · ')})` : '')],
    ['Bytes', fmtBytes(s.bytes)],
    ['Records/s', fmt.format(Math.round(s.recordsPerSec))],
    ['Written', fmtBytes(s.bytesWritten)],
    ['Staged', fmtBytes(s.bytesStaged)],
    ['Buffers in flight', s.buffersInFlight],
    ['Rejected msgs', s.rejected],
    ['Dropped records', s.dropped],
    ...(s.partsUploaded === undefined ? [] : [
      ['Parts uploaded', s.partsUploaded],
      ['Bytes uploaded', fmtBytes(s.bytesUploaded)],
      ['Upload retries', s.retries],
      ['Parts in flight', s.partsInFlight],
      ['Bytes in memory', fmtBytes(s.bytesInMemory)],
    ]),
    ['Dead-letter queue', `${s.dlqEntries ?? 0} (${fmtBytes(s.dlqBytes ?? 0)})`],
    ['Replayed', s.replayed ?? 0],
    ['Quarantined', s.quarantined ?? 0],
  ];
  const el = $('#stats');
  if (el.dataset.keys !== items.map(([k]) => k).join()) {
    el.dataset.keys = items.map(([k]) => k).join();
    el.replaceChildren(...items.map(([k]) => {
      const d = document.createElement('div');
      d.dataset.stat = k;
      d.append(Object.assign(document.createElement('dt'), { textContent: k }), document.createElement('dd'));
      return d;
    }));
  }
  items.forEach(([, v], i) => {
    const dd = el.children[i].lastChild;
    if (dd.textContent !== String(v)) dd.textContent = v;
  });
}

const STATUS_TEXT = {
  open: { here: 'open (being written here)', elsewhere: 'open (being written in another tab)' },
  recovered: 'recovered (interrupted, repaired)',
};

function statusText(r) {
  const t = STATUS_TEXT[r.status];
  return typeof t === 'object' ? t[r.live] ?? 'open' : t ?? r.status;
}


let refreshing = null;
let refreshAgain = false;
// One table row: the run's figures, its pin, Download (or why not) and Delete.
function runRow(r) {
  const tr = document.createElement('tr');
  tr.dataset.runId = r.runId;
  tr.dataset.status = r.status;
  const cell = (text, cls) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  };
  const actions = document.createElement('td');
  const dl = document.createElement('button');
  dl.textContent = r.live ? 'Download snapshot' : 'Download';
  dl.className = 'download';
  dl.title = r.noDownload ?? (r.live ? 'the whole records written so far, with a manifest saying it is a snapshot, in one .zip'
    : 'the whole run in one .zip: the file of each stream and the manifest');
  dl.disabled = !!r.noDownload;
  dl.onclick = () => download(r.runId).catch((e) => addError({ source: 'download', message: e.message }));
  const files = Object.assign(document.createElement('details'), { className: 'files' });
  const fileList = document.createElement('span');
  files.append(Object.assign(document.createElement('summary'), { textContent: 'files', title: 'each file of the run on its own' }), fileList);
  files.ontoggle = () => files.open && listFiles(r.runId, fileList).catch((e) => addError({ source: 'download', message: e.message }));
  if (r.noDownload) files.hidden = true;
  const del = document.createElement('button');
  del.textContent = 'Delete';
  del.className = 'delete';
  del.onclick = async () => {
    const what = `${r.runId} (${fmtBytes(r.bytes)}${r.pinned ? ', pinned: kept from the retention policy, not from this' : ''})`;
    if (!confirm(`Delete ${what}? This cannot be undone.`)) return;
    try {
      await pipeline.deleteRun(r.runId);
    } catch (e) {
      addError({ source: 'delete', message: e.message });
    }
    refreshRuns();
  };
  actions.append(dl, ' ', del, ' ', files);
  const pinCell = document.createElement('td');
  const pin = Object.assign(document.createElement('input'), { type: 'checkbox', className: 'pin', checked: !!r.pinned });
  pin.title = 'a pinned run is never removed by the retention policy';
  pin.onchange = () => pipeline.pinRun(r.runId, pin.checked).catch((e) => addError({ source: 'pin', message: e.message }));
  pinCell.append(pin);
  tr.append(cell(r.runId), cell(fmtBytes(r.bytes), 'num'), cell(r.records == null ? '—' : fmt.format(r.records), 'num'), cell(statusText(r), 'status'), pinCell, actions);
  return tr;
}

async function refreshRuns() {
  // A burst of changes (several tabs) needs one listing, not one each; but a
  // change that arrives while a listing runs needs one more listing after it,
  // or the table would keep what that listing saw before the change.
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  let runs;
  try {
    do {
      refreshAgain = false;
      refreshing = pipeline.listRuns();
      runs = await refreshing;
    } while (refreshAgain);
  } catch (e) {
    addError({ source: 'runs', message: e.message });
    return;
  } finally {
    refreshing = null;
  }
  $('#runs-empty').hidden = runs.length > 0;
  $('#runs tbody').replaceChildren(...runs.map(runRow));
  refreshStorage();
}

const MiB = 1 << 20;
const retentionForm = $('#retention-form');

async function refreshStorage(u) {
  try {
    u ??= await pipeline.storageUsage();
  } catch (e) {
    addError({ source: 'storage', message: e.message });
    return;
  }
  const items = [
    // the browser's own estimate: it lags behind files just written or removed
    ['Used (browser estimate)', `${fmtBytes(u.estimate.usage)} of ${fmtBytes(u.estimate.quota)}`],
    ...Object.entries(u.bytesByStatus).map(([status, bytes]) => [`Runs ${status}`, fmtBytes(bytes)]),
    ['Dead-letter queue', fmtBytes(u.dlqBytes)],
    ['Quarantine', fmtBytes(u.quarantineBytes)],
    ['Download snapshots', fmtBytes(u.snapshotBytes)],
  ];
  $('#storage').replaceChildren(...items.map(([k, v]) => {
    const d = document.createElement('div');
    d.dataset.stat = k;
    d.append(Object.assign(document.createElement('dt'), { textContent: k }), Object.assign(document.createElement('dd'), { textContent: v }));
    return d;
  }));
  window.vpslog.storage = u;
  if (!retentionForm.dataset.loaded) {
    const p = u.policy;
    const el = retentionForm.elements;
    el.maxTotalMiB.value = p.maxTotalBytes === null ? '' : p.maxTotalBytes / MiB;
    el.maxAgeDays.value = p.maxAgeDays ?? '';
    el.minHeadroomMiB.value = p.minHeadroomBytes / MiB;
    el.freeSpaceForRuns.checked = p.freeSpaceForRuns;
    retentionForm.dataset.loaded = 'yes';
  }
}

// The policy as the form states it, or what is wrong with it, named as the form names it.
function readRetention() {
  const el = retentionForm.elements;
  const problems = [];
  const value = (input, scale = 1) => {
    if (!input.validity.valid || (input.value.trim() !== '' && !Number.isFinite(input.valueAsNumber))) {
      problems.push(`${labelOf(input)}: a number ≥ 0, or empty`);
      return null;
    }
    return input.value.trim() === '' ? null : input.valueAsNumber * scale;
  };
  const policy = {
    maxTotalBytes: value(el.maxTotalMiB, MiB), maxAgeDays: value(el.maxAgeDays),
    minHeadroomBytes: value(el.minHeadroomMiB, MiB) ?? 0, freeSpaceForRuns: el.freeSpaceForRuns.checked,
  };
  return { policy, problems };
}

function showRetentionState(text, isError = false) {
  const el = $('#retention-state');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

retentionForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const { policy, problems } = readRetention();
  if (problems.length) {
    showRetentionState(problems.join('; '), true);
    return;
  }
  try {
    // Applying removes runs at once: say which, and let the user back out.
    const runs = await pipeline.listRuns();
    const pinned = runs.filter((r) => r.pinned).map((r) => r.runId);
    const doomed = new Set(selectForRemoval(runs, { ...policy, pinned }));
    if (doomed.size) {
      const bytes = runs.filter((r) => doomed.has(r.runId)).reduce((a, r) => a + (r.bytes ?? 0), 0);
      const ask = `This policy removes ${doomed.size} stored run${doomed.size === 1 ? '' : 's'} now (${fmtBytes(bytes)}):\n`
        + `${[...doomed].slice(0, 10).join('\n')}${doomed.size > 10 ? '\n…' : ''}\n\nSave it and remove them?`;
      if (!window.confirm(ask)) {
        showRetentionState('not saved: nothing removed');
        return;
      }
    }
    const u = await pipeline.setRetention(policy);
    const n = u.removed.length; // what the logger removed: a run may have closed while the user was asked
    showRetentionState(n ? `saved and applied: ${n} run${n === 1 ? '' : 's'} removed` : 'saved and applied');
    refreshStorage(u);
  } catch (err) {
    showRetentionState(err.message, true);
  }
});

async function showPersistence(ask) {
  const state = ask ? await pipeline.requestPersistence() : { persisted: await navigator.storage.persisted() };
  const el = $('#persist-state');
  el.dataset.persisted = state.persisted;
  el.textContent = state.persisted ? 'persistent: the browser will not evict this data under storage pressure'
    : ask ? 'not granted: the browser may evict this data under storage pressure' : 'not persistent (best effort)';
}
$('#persist').addEventListener('click', () => showPersistence(true).catch((e) => addError({ source: 'storage', message: e.message })));
showPersistence(false).catch(() => {});

// Files are references to what OPFS stores: the page hands them to the browser's
// download without ever reading them.
function save(file) {
  const url = URL.createObjectURL(file);
  const a = Object.assign(document.createElement('a'), { href: url, download: file.name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// The whole run in one archive; its files one by one from the row's file list.
const download = async (runId) => save(await pipeline.archiveRun(runId));

async function listFiles(runId, list) {
  const { files, manifest } = await pipeline.getRun(runId);
  list.replaceChildren(...[...files, manifest].map((f) => {
    const b = Object.assign(document.createElement('button'), { className: 'file', textContent: `${f.name} (${fmtBytes(f.size)})` });
    b.onclick = () => save(f);
    return b;
  }));
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  clearTimeout(prepareTimer); // Start builds the run itself; a prepare due later would also clear its error
  const { cfg, problems } = readForm();
  showFormError(problems.join('; '));
  if (problems.length) return;
  startBtn.disabled = true;
  try {
    await pipeline.start(cfg);
    stopBtn.disabled = false;
    $('#run-result').hidden = true;
  } catch (err) {
    showFormError(REFUSALS[err.status] ? `${REFUSALS[err.status]} (${err.message})` : err.message);
    startBtn.disabled = false;
  }
});
// While the page is idle the sims build the run the form describes, so that
// Start only has to open it (a failure here shows again at Start).
let prepareTimer = 0;
function prepareAhead() {
  clearTimeout(prepareTimer);
  prepareTimer = setTimeout(() => {
    const { cfg, problems } = readForm();
    if (problems.length) return;
    showFormError(''); // what it said was about the form as it was
    if (!pipeline.run) pipeline.prepare(cfg).catch(() => {});
  }, 300);
}
form.addEventListener('input', prepareAhead);
form.addEventListener('change', prepareAhead);
stopBtn.addEventListener('click', () => {
  stopBtn.disabled = true;
  pipeline.stop();
});
$('#refresh').addEventListener('click', refreshRuns);
form.elements.workers.addEventListener('change', () => {
  renderSims();
  const n = Number(form.elements.workers.value);
  if (Number.isInteger(n) && n >= 1 && n <= MAX_SIMS) pipeline.ensureSims(n).catch(() => {});
});

pipeline.addEventListener('stats', (e) => {
  window.vpslog.stats = e.detail;
  renderStats(e.detail);
});
pipeline.addEventListener('error', (e) => addError(e.detail));
pipeline.addEventListener('runs', refreshRuns);
// A sim's state change shows at once; its progress while it runs (4 status
// messages a second per sim) at most twice a second, as the logger's stats do.
let simsShown = '';
let simsTimer = null;
pipeline.addEventListener('sims', () => {
  const states = pipeline.sims.map((s) => s.state).join();
  if (states !== simsShown) {
    simsShown = states;
    clearTimeout(simsTimer);
    simsTimer = null;
    renderSims();
  } else {
    simsTimer ??= setTimeout(() => {
      simsTimer = null;
      renderSims();
    }, 500);
  }
});
pipeline.addEventListener('run', (e) => {
  const { state, manifest, produced, runId, sims, published, where } = e.detail;
  if (state === 'closed') {
    stopBtn.disabled = true;
    startBtn.disabled = false;
    prepareAhead();
    const el = $('#run-result');
    // every stream of the run (a version-1 manifest: events only)
    const streams = manifest.streams ?? [{ name: 'events', records: manifest.records, bytes: manifest.bytes }];
    const total = (k) => streams.reduce((a, s) => a + s[k], 0);
    Object.assign(el.dataset, {
      runId, produced, logged: total('records'), status: manifest.status,
      // how long the sims waited for credits (backpressure) and their peak buffers in flight
      waitMs: Math.round(sims.reduce((a, s) => a + s.waitMs, 0)),
      maxInFlight: Math.max(0, ...sims.map((s) => s.maxInFlight)),
      traversals: sims.reduce((a, s) => a + (s.stats?.traversals ?? 0), 0),
      published: published ?? '',
    });
    const traversals = Number(el.dataset.traversals);
    const moved = traversals ? ` ${fmt.format(traversals)} edge traversals;` : '';
    const perStream = streams.length > 1 ? ` (${streams.map((s) => `${s.name} ${fmt.format(s.records)}`).join(' · ')})` : '';
    el.textContent = `${runId}: ${manifest.status};${moved} sims produced ${fmt.format(produced)} records, ${fmt.format(total('records'))} stored${perStream}${where} (${fmtBytes(total('bytes'))}).`;
    // A model that raised: its traceback, as the manifest keeps it.
    for (const p of manifest.producers.filter((q) => q.error)) {
      const d = Object.assign(document.createElement('details'), { className: 'traceback', open: true });
      const sent = manifest.streams ? streams.reduce((n, x) => n + (x.producers[p.id] ?? 0), 0) : p.records;
      d.append(Object.assign(document.createElement('summary'), { textContent: `sim ${p.id}: the model failed after ${fmt.format(sent)} records` }),
        Object.assign(document.createElement('pre'), { textContent: p.error }));
      el.append(d);
    }
    const stopped = sims.filter((q) => q.stats?.interrupted).map((q) => q.producer).sort((a, b) => a - b);
    if (stopped.length) el.append(` Stop interrupted a model step that did not yield in sim ${stopped.join(', ')}.`);
    el.hidden = false;
  }
});

setInterval(() => pipeline.sims.some((s) => s.state === 'booting') && renderSims(), 200);
pipeline.ensureSims(Number(form.elements.workers.value) || 2)
  .then(() => { startBtn.disabled = !!pipeline.run; prepareAhead(); })
  .catch((e) => showFormError(`Python runtime failed to start: ${e.message}`));
refreshRuns();
