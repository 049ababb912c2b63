// The live view: a map of the network coloured by each edge's current V/C with
// its vehicles, records/s per sim and for the logger, events/s by status, the
// busiest edges, and a summary of the finished run. It is fed by the sims' view
// channel (≤ 10 Hz aggregates) and the logger's stats, never by log records.
// The map is rasterised and redrawn in a worker (web/map.worker.js) that owns
// the canvas, so the main thread only relays view data and updates the charts
// and counters twice a second: it keeps the display rate at any network size.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import * as P from '../workers/protocol.js';

export { VC_COLOURS } from './map.js';
const HISTORY_S = 120;
const STATUS_NAMES = ['enter', 'exit', 'error'];
const fmt = new Intl.NumberFormat('en-US');
// Writes that change nothing are skipped: each would cost a style or layout pass.
const setText = (el, text) => { if (el.textContent !== text) el.textContent = text; };
const setStyle = (el, prop, value) => { if (el.style[prop] !== value) el.style[prop] = value; };

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

// A chart of series over seconds. Its legend names the series without live
// values: they would be DOM writes on every update, and no cursor shows them.
// Tick labels are compact (12.5M, not 12,500,000) so they fit beside the plot.
const chart = (el, width, height, title, series, data) => new uPlot({ width, height, title, scales: { x: { time: false } },
  series: [{ label: 's' }, ...series],
  axes: [{ values: (u, ticks) => ticks.map((t) => `${t} s`) }, { size: 52, values: (u, ticks) => ticks.map((t) => compact.format(t)) }],
  legend: { live: false } }, data, el);

export class LiveView {
  constructor(root, pipeline) {
    this.root = root;
    this.canvas = root.querySelector('#map');
    this.hasMap = false;
    this.sims = new Map(); // producer -> {records, t, rate, status}
    this.series = null;
    this.map = new Worker(new URL('./map.worker.js', import.meta.url), { type: 'module', name: 'vpslog-map' });
    this.mapRequests = new P.Requests((m, t) => this.map.postMessage(m, t));
    this.map.onmessage = ({ data: m }) => {
      // as tall as the network's shape wants, within the stylesheet's limits
      if (m.type === P.MAP_SHAPE) setStyle(this.canvas, 'aspectRatio', `${m.width} / ${m.height}`);
      else this.mapRequests.settle(m);
    };
    const offscreen = this.canvas.transferControlToOffscreen();
    this.map.postMessage(P.msg(P.MAP_CANVAS, { canvas: offscreen }), [offscreen]);
    pipeline.addEventListener('network', (e) => this.setNetwork(e.detail));
    pipeline.addEventListener('view', (e) => this.#onView(e.detail));
    pipeline.addEventListener('stats', (e) => this.#onStats(e.detail));
    pipeline.addEventListener('run', (e) => this.#onRun(e.detail));
    // The canvas's size reaches the map worker after layout, never by forcing one.
    new ResizeObserver(([e]) => {
      const { inlineSize: w, blockSize: h } = e.devicePixelContentBoxSize?.[0] ?? e.contentBoxSize[0];
      this.map.postMessage(P.msg(P.MAP_SIZE, { w: Math.round(w), h: Math.round(h) }));
    }).observe(this.canvas);
  }

  // {edgeIds: Uint16Array, x0, y0, x1, y1, capacity: Float32Array}: handed to the map worker.
  setNetwork({ edgeIds, x0, y0, x1, y1, capacity }) {
    const net = { edgeIds, x0, y0, x1, y1, capacity };
    this.root.querySelector('#map-panel').hidden = false;
    this.hasMap = true;
    this.map.postMessage(P.msg(P.MAP_NETWORK, { net }), Object.values(net).map((a) => a.buffer));
  }

  // The model's occupancy for some edges (ids, counts), as a view message carries it.
  #applyOccupancy(edges, occupancy) {
    if (this.hasMap && edges.length) this.map.postMessage(P.msg(P.MAP_OCCUPANCY, { edges, occupancy }), [edges.buffer, occupancy.buffer]);
  }

  // This run has no map (its source has no geometry): hide the last run's.
  #noMap() {
    const panel = this.root.querySelector('#map-panel');
    if (panel.hidden) return;
    panel.hidden = true;
    this.map.postMessage(P.msg(P.MAP_NETWORK, { net: null }));
  }

  // For tests and the bench: {edge, vc, rgb, x, y} of `edge` (or the most
  // congested edge) and the colour the canvas shows at its middle pixel.
  probe(edge = null) {
    return this.mapRequests.call(P.MAP_PROBE, { edge });
  }

  // {redraws, drawMs, edges, edgesDrawn}: how often the map was redrawn, and how many edges it shows.
  mapStats() {
    return this.mapRequests.call(P.MAP_STATS);
  }

  // The redraw cost on its own, in the map worker: {edges, vehicles, layoutMs, times}.
  benchRedraw({ side, vehicles, redraws }) {
    return this.mapRequests.call(P.MAP_BENCH, { side, vehicles, redraws });
  }

  #onView(v) {
    const now = performance.now();
    const s = this.sims.get(v.producer) ?? { records: 0, t: now, rate: 0, status: new Float64Array(4), top: null };
    const dt = (now - s.t) / 1000;
    if (dt > 0.05) s.rate = (v.records - s.records) / dt;
    Object.assign(s, { records: v.records, t: now, status: v.status, top: [v.topEdges, v.topCounts] });
    this.sims.set(v.producer, s);
    // sim 0 sends the run's network before its first view message, if the source has one
    if (!this.hasMap && v.producer === 0) this.#noMap();
    this.#applyOccupancy(v.occEdges, v.occupancy);
  }

  // A new run keeps the page's layout (the last run's map and the charts stay
  // until the new run's replace them): showing, hiding and rebuilding panels
  // at Start would cost the main thread whole-page layouts while logging starts.
  #onRun({ state, manifest }) {
    if (state === 'running') {
      this.sims.clear();
      this.hasMap = false;
      this.#startCharts();
      this.root.querySelector('#run-summary').hidden = true;
    } else if (state === 'closed') {
      if (!this.hasMap) this.#noMap();
      this.#summary(manifest);
    }
  }

  #startCharts() {
    this.t0 = performance.now();
    this.prevStatus = new Float64Array(4);
    this.series = { t: [], logger: [], sims: [], simIndex: new Map(), status: [[], [], []] };
    if (this.rateChart) {
      while (this.rateChart.series.length > 2) this.rateChart.delSeries(this.rateChart.series.length - 1);
      this.rateChart.setData([[], []]);
      this.statusChart.setData([[], [], [], []]);
      return;
    }
    const el = this.root.querySelector('#rate-chart');
    const width = Math.max(300, el.clientWidth);
    this.rateChart = chart(el, width, 160, 'records/s', [{ label: 'logger', stroke: '#1d2330', width: 2 }], [[], []]);
    this.statusChart = chart(this.root.querySelector('#status-chart'), width, 140, 'events/s by status',
      STATUS_NAMES.map((name, i) => ({ label: name, stroke: ['#3aa55d', '#4a7bd0', '#d62839'][i], width: 2 })), [[], [], [], []]);
  }

  // Twice a second (the logger's stats): sample the rates into the charts.
  #onStats(st) {
    const sr = this.series;
    if (!sr || st.state === 'idle') return;
    const t = (performance.now() - this.t0) / 1000;
    const dt = sr.t.length ? t - sr.t[sr.t.length - 1] : t;
    sr.t.push(t);
    sr.logger.push(st.recordsPerSec);
    // one series per sim, in the order their first view messages arrived
    for (const [id, s] of this.sims) {
      if (!sr.simIndex.has(id)) {
        const k = sr.simIndex.size;
        sr.simIndex.set(id, k);
        sr.sims[k] = new Array(sr.t.length - 1).fill(null);
        this.rateChart.addSeries({ label: `sim ${id}`, stroke: `hsl(${(k * 67) % 360} 60% 45%)` });
      }
      sr.sims[sr.simIndex.get(id)].push(s.rate);
    }
    const total = new Float64Array(4);
    for (const s of this.sims.values()) for (let i = 1; i < 4; i++) total[i] += s.status[i];
    for (let i = 1; i < 4; i++) sr.status[i - 1].push(dt > 0 ? (total[i] - this.prevStatus[i]) / dt : 0);
    this.prevStatus = total;
    if (sr.t.length > HISTORY_S * 2) [sr.t, sr.logger, ...sr.sims, ...sr.status].forEach((a) => a.shift());
    this.rateChart.setData([sr.t, sr.logger, ...sr.sims]);
    this.statusChart.setData([sr.t, ...sr.status]);
    this.#renderCounts(total);
    this.#renderTop();
  }

  // Counters and the busiest edges change twice a second: their text is
  // updated in place, so a redraw costs no new elements.
  #renderCounts(total) {
    const el = this.root.querySelector('#status-counts');
    if (!el.children.length) {
      el.append(...STATUS_NAMES.map((name) => {
        const d = document.createElement('div');
        d.dataset.status = name;
        return d;
      }));
    }
    STATUS_NAMES.forEach((name, i) => setText(el.children[i], `${name} ${fmt.format(total[i + 1])}`));
  }

  #renderTop() {
    const sum = new Map();
    for (const s of this.sims.values()) {
      if (!s.top) continue;
      const [edges, counts] = s.top;
      edges.forEach((e, i) => sum.set(e, (sum.get(e) ?? 0) + counts[i]));
    }
    const rows = [...sum.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    const body = this.root.querySelector('#top-edges tbody');
    while (body.rows.length > rows.length) body.lastChild.remove();
    while (body.rows.length < rows.length) body.insertRow().append(document.createElement('td'), Object.assign(document.createElement('td'), { className: 'num' }));
    rows.forEach(([e, n], i) => {
      setText(body.rows[i].cells[0], String(e));
      setText(body.rows[i].cells[1], fmt.format(n));
    });
  }

  // The finished run: its records/s over time and its counts by status, from
  // the logger's stats and the manifest (the sims' reports), never from records.
  #summary(manifest) {
    const el = this.root.querySelector('#run-summary');
    const sr = this.series;
    el.hidden = false;
    const box = el.querySelector('#summary-chart');
    this.summaryChart?.destroy();
    if (sr?.t.length) {
      this.summaryChart = chart(box, Math.max(300, box.clientWidth), 140, `${manifest.run_id}: records/s`,
        [{ label: 'logger', stroke: '#1d2330', width: 2, fill: 'rgba(74,123,208,.15)' }], [sr.t.slice(), sr.logger.slice()]);
    }
    const counts = STATUS_NAMES.map((name) => manifest.producers.reduce((a, p) => a + (p.stats?.status_counts?.[name] ?? 0), 0));
    const max = Math.max(1, ...counts);
    el.querySelector('#summary-status').replaceChildren(...STATUS_NAMES.map((name, i) => {
      const row = document.createElement('div');
      row.className = 'bar';
      row.dataset.status = name;
      row.innerHTML = `<span>${name}</span><span class="fill" style="width:${(100 * counts[i]) / max}%"></span><span class="num">${fmt.format(counts[i])}</span>`;
      return row;
    }));
  }
}
