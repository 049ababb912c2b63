// Page UI: reads the form, drives the Pipeline, renders what it reports.
import { Pipeline, MAX_SIMS } from './pipeline.js';
import * as P from '../workers/protocol.js';

const $ = (sel) => document.querySelector(sel);
const form = $('#run-form');
const startBtn = $('#start');
const stopBtn = $('#stop');
const pipeline = new Pipeline();
// For the console and for tests; the page itself never needs it.
window.vpslog = { pipeline };
const BOOT_ESTIMATE_MS = 5000;

const fmt = new Intl.NumberFormat('en-US');
const fmtBytes = (n) => (n == null ? '—' : n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);

function readForm() {
  const f = new FormData(form);
  const num = (k) => Number(f.get(k));
  const problems = [];
  const check = (k, label, lo, hi, integer = true) => {
    const v = num(k);
    if (!Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) problems.push(`${label} must be ${integer ? 'a whole number ' : ''}from ${lo} to ${hi}`);
    return v;
  };
  const cfg = {
    workers: check('workers', 'Sim workers', 1, MAX_SIMS),
    pace: f.get('pace'),
    durationS: check('durationS', 'Run length', 0, 86400, false),
    source: {
      source: 'load',
      rate: check('rate', 'Events/s', 1, 50_000_000),
      vehicles: check('vehicles', 'Vehicles', 1, 65536),
      edges: check('edges', 'Edges', 1, 65536),
      error_rate: check('error_rate', 'Error share', 0, 1, false),
    },
  };
  if (f.get('mode') !== 'opfs') problems.push('Only OPFS storage is available');
  return { cfg, problems };
}

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

function renderSims() {
  const now = performance.now();
  const ul = $('#sims');
  ul.replaceChildren(...pipeline.sims.map((s) => {
    const li = document.createElement('li');
    li.dataset.state = s.state;
    const label = document.createElement('span');
    label.textContent = `sim ${s.id}`;
    const bar = document.createElement('progress');
    const text = document.createElement('span');
    if (s.state === 'booting') {
      const elapsed = now - s.bootStart;
      bar.max = 1;
      bar.value = Math.min(elapsed / BOOT_ESTIMATE_MS, 0.95);
      text.textContent = `${s.stage}… ${(elapsed / 1000).toFixed(1)} s`;
    } else if (s.state === 'failed') {
      bar.max = 1;
      bar.value = 0;
      text.textContent = 'failed (see errors)';
    } else {
      bar.max = P.CREDIT_WINDOW;
      bar.value = s.state === 'running' ? s.status?.inFlight ?? 0 : 0;
      bar.title = 'buffers in flight';
      text.textContent = s.state === 'running'
        ? `${fmt.format(s.status?.records ?? 0)} records · ${s.status?.inFlight ?? 0}/${P.CREDIT_WINDOW} in flight`
        : `Python ${s.python} ready (boot ${(s.bootMs / 1000).toFixed(1)} s)`;
    }
    li.append(label, bar, text);
    return li;
  }));
}

function renderStats(s) {
  const items = [
    ['State', s.state],
    ['Records', fmt.format(s.records)],
    ['Bytes', fmtBytes(s.bytes)],
    ['Records/s', fmt.format(Math.round(s.recordsPerSec))],
    ['Written', fmtBytes(s.bytesWritten)],
    ['Staged', fmtBytes(s.bytesStaged)],
    ['Buffers in flight', s.buffersInFlight],
    ['Rejected msgs', s.rejected],
    ['Dropped records', s.dropped],
  ];
  $('#stats').replaceChildren(...items.map(([k, v]) => {
    const d = document.createElement('div');
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = v;
    d.dataset.stat = k;
    d.append(dt, dd);
    return d;
  }));
}

async function refreshRuns() {
  let runs;
  try {
    runs = await pipeline.request(P.LOG_LIST);
  } catch (e) {
    addError({ source: 'runs', message: e.message });
    return;
  }
  $('#runs-empty').hidden = runs.length > 0;
  $('#runs tbody').replaceChildren(...runs.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.runId = r.runId;
    const cell = (text, cls) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      return td;
    };
    const actions = document.createElement('td');
    const dl = document.createElement('button');
    dl.textContent = 'Download';
    dl.className = 'download';
    dl.onclick = () => download(r.runId).catch((e) => addError({ source: 'download', message: e.message }));
    const del = document.createElement('button');
    del.textContent = 'Delete';
    del.className = 'delete';
    del.onclick = async () => {
      if (!confirm(`Delete ${r.runId}?`)) return;
      try {
        await pipeline.request(P.LOG_DELETE, { runId: r.runId });
      } catch (e) {
        addError({ source: 'delete', message: e.message });
      }
      refreshRuns();
    };
    actions.append(dl, ' ', del);
    tr.append(cell(r.runId), cell(fmtBytes(r.bytes), 'num'), cell(r.records == null ? '—' : fmt.format(r.records), 'num'), cell(r.status), actions);
    return tr;
  }));
}

async function download(runId) {
  const { bin, manifest } = await pipeline.request(P.LOG_GET, { runId });
  for (const [file, name] of [[bin, `${runId}.bin`], [manifest, `${runId}.manifest.json`]]) {
    const url = URL.createObjectURL(file);
    const a = Object.assign(document.createElement('a'), { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const { cfg, problems } = readForm();
  showFormError(problems.join('; '));
  if (problems.length) return;
  startBtn.disabled = true;
  try {
    await pipeline.start(cfg);
    stopBtn.disabled = false;
    $('#run-result').hidden = true;
  } catch (err) {
    showFormError(err.message);
    startBtn.disabled = false;
  }
});
stopBtn.addEventListener('click', () => {
  stopBtn.disabled = true;
  pipeline.stop();
});
$('#refresh').addEventListener('click', refreshRuns);
form.elements.workers.addEventListener('change', () => {
  const n = Number(form.elements.workers.value);
  if (Number.isInteger(n) && n >= 1 && n <= MAX_SIMS) pipeline.ensureSims(n).catch(() => {});
});

pipeline.addEventListener('stats', (e) => renderStats(e.detail));
pipeline.addEventListener('error', (e) => addError(e.detail));
pipeline.addEventListener('sims', renderSims);
pipeline.addEventListener('run', (e) => {
  const { state, manifest, produced, runId, sims } = e.detail;
  if (state === 'closed') {
    stopBtn.disabled = true;
    startBtn.disabled = false;
    const el = $('#run-result');
    Object.assign(el.dataset, {
      runId, produced, logged: manifest.records, status: manifest.status,
      // how long the sims waited for credits (backpressure) and their peak buffers in flight
      waitMs: Math.round(sims.reduce((a, s) => a + s.waitMs, 0)),
      maxInFlight: Math.max(0, ...sims.map((s) => s.maxInFlight)),
    });
    el.textContent = `${runId}: ${manifest.status}; sims produced ${fmt.format(produced)} records, ${fmt.format(manifest.records)} stored (${fmtBytes(manifest.bytes)}).`;
    el.hidden = false;
    refreshRuns();
  } else if (state === 'running') {
    refreshRuns();
  }
});

setInterval(() => pipeline.sims.some((s) => s.state === 'booting') && renderSims(), 200);
pipeline.ensureSims(Number(form.elements.workers.value) || 2)
  .then(() => { startBtn.disabled = !!pipeline.run; })
  .catch((e) => showFormError(`Python runtime failed to start: ${e.message}`));
refreshRuns();
