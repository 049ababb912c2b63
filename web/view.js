// The live view, on the main thread: a map of the network coloured by each
// edge's current V/C with its vehicles, records/s per sim and for the logger,
// events/s by status, the busiest edges, and a summary of the finished run.
// It is fed by the sims' view channel (≤ 10 Hz aggregates) and the logger's
// stats, never by log records. The map is redrawn once per animation frame
// when new state arrived, so the page keeps the display rate.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

// V/C bins and their colours: empty, light, ..., over capacity.
export const VC_BINS = [0, 0.25, 0.5, 0.75, 1, 1.5];
export const VC_COLOURS = ['#c9ced6', '#3aa55d', '#9bc53d', '#f2c14e', '#f0803c', '#d62839'];
// Colours as little-endian RGBA words, for writing an ImageData's pixels directly.
const rgba = (hex) => (0xff << 24) | (parseInt(hex.slice(5, 7), 16) << 16) | (parseInt(hex.slice(3, 5), 16) << 8) | parseInt(hex.slice(1, 3), 16);
const BIN_RGBA = Uint32Array.from(VC_COLOURS, rgba);
const VEHICLE_RGBA = rgba('#1d2330') >>> 0;
const BACKGROUND = rgba('#fbfbfc') >>> 0;
const HISTORY_S = 120;
const STATUS_NAMES = ['enter', 'exit', 'error'];
const fmt = new Intl.NumberFormat('en-US');

export const binOf = (vc, occ) => (occ === 0 ? 0 : VC_BINS.findLastIndex((b) => vc >= b) || 1);

export class LiveView {
  constructor(root, pipeline) {
    this.root = root;
    this.canvas = root.querySelector('#map');
    this.net = null;
    this.dirty = false;
    this.drawMs = [];
    this.sims = new Map(); // producer -> {records, t, rate, status}
    this.series = null;
    pipeline.addEventListener('network', (e) => this.setNetwork(e.detail));
    pipeline.addEventListener('view', (e) => this.#onView(e.detail));
    pipeline.addEventListener('stats', (e) => this.#onStats(e.detail));
    pipeline.addEventListener('run', (e) => this.#onRun(e.detail));
    new ResizeObserver(() => { this.dirty = true; }).observe(this.canvas);
    const frame = () => {
      if (this.dirty) this.draw();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  // {edgeIds: Uint16Array, x0, y0, x1, y1, capacity: Float32Array}
  setNetwork(net) {
    const n = net.edgeIds.length;
    const index = new Int32Array(65536).fill(-1);
    net.edgeIds.forEach((id, i) => { index[id] = i; });
    let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i < n; i++) {
      minX = Math.min(minX, net.x0[i], net.x1[i]);
      maxX = Math.max(maxX, net.x0[i], net.x1[i]);
      minY = Math.min(minY, net.y0[i], net.y1[i]);
      maxY = Math.max(maxY, net.y0[i], net.y1[i]);
    }
    this.net = { ...net, n, index, occ: new Uint16Array(n), bounds: [minX, minY, maxX, maxY] };
    this.root.querySelector('#map-panel').hidden = false;
    // as tall as the network's shape wants, within reason
    const aspect = (maxY - minY || 1) / (maxX - minX || 1);
    this.canvas.style.height = `${Math.round(Math.min(520, Math.max(200, this.canvas.clientWidth * aspect)))}px`;
    this.dirty = true;
  }

  // The model's occupancy for some edges (ids, counts), as a view message carries it.
  applyOccupancy(edges, occupancy) {
    const net = this.net;
    if (!net) return;
    for (let i = 0; i < edges.length; i++) {
      const k = net.index[edges[i]];
      if (k >= 0) net.occ[k] = occupancy[i];
    }
    this.dirty = true;
  }

  // Where every edge's pixels are, for the canvas's current size: computed once
  // per network and size, so a redraw is only pixel writes (no path rasterising,
  // which costs tens of ms for 30,000+ edges in a software-rendered canvas).
  #layout(w, h) {
    const net = this.net;
    const [minX, minY, maxX, maxY] = net.bounds;
    const pad = 8;
    const scale = Math.min((w - 2 * pad) / (maxX - minX || 1), (h - 2 * pad) / (maxY - minY || 1));
    // Opposite directions share a road: each is drawn one or two pixels to its right.
    const off = scale >= 6 ? 2 : 1;
    const starts = new Uint32Array(net.n + 1);
    const side = new Int32Array(net.n); // pixel step from an edge to its vehicles' side
    const seg = new Float32Array(net.n * 4);
    for (let i = 0; i < net.n; i++) {
      const ax = pad + (net.x0[i] - minX) * scale;
      const ay = pad + (net.y0[i] - minY) * scale;
      const bx = pad + (net.x1[i] - minX) * scale;
      const by = pad + (net.y1[i] - minY) * scale;
      const len = Math.hypot(bx - ax, by - ay) || 1;
      const nx = Math.round((-(by - ay) / len) * off);
      const ny = Math.round(((bx - ax) / len) * off);
      seg.set([ax + nx, ay + ny, bx + nx, by + ny], i * 4);
      side[i] = Math.sign(nx) + Math.sign(ny) * w;
      starts[i + 1] = starts[i] + Math.max(0, Math.round(Math.max(Math.abs(bx - ax), Math.abs(by - ay))) - 1);
    }
    // DDA along each segment, leaving a pixel at each end (the junction)
    const pixels = new Uint32Array(starts[net.n]);
    for (let i = 0; i < net.n; i++) {
      const [ax, ay, bx, by] = seg.subarray(i * 4, i * 4 + 4);
      const steps = starts[i + 1] - starts[i] + 1;
      for (let k = 1; k < steps; k++) {
        const x = Math.min(w - 1, Math.max(0, Math.round(ax + ((bx - ax) * k) / steps)));
        const y = Math.min(h - 1, Math.max(0, Math.round(ay + ((by - ay) * k) / steps)));
        pixels[starts[i] + k - 1] = y * w + x;
      }
    }
    this.layout = { w, h, starts, pixels, side };
  }

  // Redraw the map into one ImageData: each edge in its V/C colour, then its
  // vehicles as dark pixels spread along its side.
  draw() {
    this.dirty = false;
    const net = this.net;
    if (!net || this.root.querySelector('#map-panel').hidden) return;
    const t0 = performance.now();
    const c = this.canvas;
    const w = Math.max(1, Math.round(c.clientWidth));
    const h = Math.max(1, Math.round(c.clientHeight));
    if (c.width !== w || c.height !== h || this.layout?.w !== w || this.layout?.h !== h || this.layout.net !== net) {
      c.width = w;
      c.height = h;
      this.#layout(w, h);
      this.layout.net = net;
      this.image = c.getContext('2d').createImageData(w, h);
      this.frame = new Uint32Array(this.image.data.buffer);
    }
    const { starts, pixels, side } = this.layout;
    const frame = this.frame;
    frame.fill(BACKGROUND);
    const { capacity, occ } = net;
    for (let i = 0; i < net.n; i++) {
      const colour = BIN_RGBA[binOf(occ[i] / capacity[i], occ[i])];
      const a = starts[i];
      const b = starts[i + 1];
      for (let p = a; p < b; p++) frame[pixels[p]] = colour;
      const k = Math.min(occ[i], b - a);
      for (let j = 0; j < k; j++) {
        const p = pixels[a + Math.floor(((j + 0.5) * (b - a)) / k)] + side[i];
        if (p >= 0 && p < frame.length) frame[p] = VEHICLE_RGBA;
      }
    }
    c.getContext('2d').putImageData(this.image, 0, 0);
    this.drawMs.push(performance.now() - t0);
    if (this.drawMs.length > 600) this.drawMs.splice(0, 300);
  }

  // The colour drawn at an edge (its middle pixel): for tests, what a user sees there.
  colourAt(edgeId) {
    const net = this.net;
    const i = net?.index[edgeId];
    if (i == null || i < 0 || !this.layout) return null;
    const { starts, pixels, w } = this.layout;
    if (starts[i + 1] === starts[i]) return null;
    const p = pixels[(starts[i] + starts[i + 1]) >> 1];
    const d = this.canvas.getContext('2d').getImageData(p % w, Math.floor(p / w), 1, 1).data;
    return [d[0], d[1], d[2]];
  }

  #onView(v) {
    const now = performance.now();
    const s = this.sims.get(v.producer) ?? { records: 0, t: now, rate: 0, status: new Float64Array(4), top: null };
    const dt = (now - s.t) / 1000;
    if (dt > 0.05) s.rate = (v.records - s.records) / dt;
    Object.assign(s, { records: v.records, t: now, status: v.status, top: [v.topEdges, v.topCounts] });
    this.sims.set(v.producer, s);
    this.applyOccupancy(v.occEdges, v.occupancy);
  }

  #onRun({ state, manifest }) {
    if (state === 'running') {
      this.sims.clear();
      this.net = null; // the run's sims send its map; a source without geometry has none
      this.root.querySelector('#map-panel').hidden = true;
      this.#startCharts();
      if (this.net) this.net.occ.fill(0);
      this.root.querySelector('#run-summary').hidden = true;
    } else if (state === 'closed') {
      this.#summary(manifest);
    }
  }

  #startCharts() {
    this.t0 = performance.now();
    this.prevStatus = new Float64Array(4);
    this.series = { t: [], logger: [], sims: [], status: [[], [], []] };
    const el = this.root.querySelector('#rate-chart');
    const width = Math.max(300, el.clientWidth);
    this.rateChart?.destroy();
    this.statusChart?.destroy();
    this.rateChart = new uPlot({ width, height: 160, title: 'records/s', scales: { x: { time: false } },
      series: [{ label: 's' }, { label: 'logger', stroke: '#1d2330', width: 2 }],
      axes: [{}, { size: 60 }] }, [[], []], el);
    this.statusChart = new uPlot({ width, height: 140, title: 'events/s by status', scales: { x: { time: false } },
      series: [{ label: 's' }, ...STATUS_NAMES.map((name, i) => ({ label: name, stroke: ['#3aa55d', '#4a7bd0', '#d62839'][i], width: 2 }))],
      axes: [{}, { size: 60 }] }, [[], [], [], []], this.root.querySelector('#status-chart'));
  }

  // Twice a second (the logger's stats): sample the rates into the charts.
  #onStats(st) {
    const sr = this.series;
    if (!sr || st.state === 'idle') return;
    const t = (performance.now() - this.t0) / 1000;
    const dt = sr.t.length ? t - sr.t[sr.t.length - 1] : t;
    sr.t.push(t);
    sr.logger.push(st.recordsPerSec);
    const ids = [...this.sims.keys()].sort((a, b) => a - b);
    ids.forEach((id, k) => {
      if (!sr.sims[k]) {
        sr.sims[k] = new Array(sr.t.length - 1).fill(null);
        this.rateChart.addSeries({ label: `sim ${id}`, stroke: `hsl(${(k * 67) % 360} 60% 45%)` });
      }
      sr.sims[k].push(this.sims.get(id).rate);
    });
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

  #renderCounts(total) {
    this.root.querySelector('#status-counts').replaceChildren(...STATUS_NAMES.map((name, i) => {
      const d = document.createElement('div');
      d.dataset.status = name;
      d.textContent = `${name} ${fmt.format(total[i + 1])}`;
      return d;
    }));
  }

  #renderTop() {
    const sum = new Map();
    for (const s of this.sims.values()) {
      if (!s.top) continue;
      const [edges, counts] = s.top;
      edges.forEach((e, i) => sum.set(e, (sum.get(e) ?? 0) + counts[i]));
    }
    const rows = [...sum.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    this.root.querySelector('#top-edges tbody').replaceChildren(...rows.map(([e, n]) => {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td>${e}</td><td class="num">${fmt.format(n)}</td>`;
      return tr;
    }));
  }

  // The finished run: its records/s over time and its counts by status, from
  // the logger's stats and the manifest (the sims' reports), never from records.
  #summary(manifest) {
    const el = this.root.querySelector('#run-summary');
    const sr = this.series;
    el.hidden = false;
    const chart = el.querySelector('#summary-chart');
    this.summaryChart?.destroy();
    if (sr?.t.length) {
      this.summaryChart = new uPlot({ width: Math.max(300, chart.clientWidth), height: 140, title: `${manifest.run_id}: records/s`,
        scales: { x: { time: false } }, series: [{ label: 's' }, { label: 'logger', stroke: '#1d2330', width: 2, fill: 'rgba(74,123,208,.15)' }],
        axes: [{}, { size: 60 }] }, [sr.t.slice(), sr.logger.slice()], chart);
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
