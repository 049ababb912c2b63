// The map worker: owns the map's OffscreenCanvas, so rasterising 30,000+ edges
// and redrawing them with their vehicles never costs the main thread a frame.
// It gets view data only (the network once per run, then occupancy from the
// sims' view messages, relayed by the page) and redraws at most once per
// VIEW_MS, however many sims publish.
import * as P from '../workers/protocol.js';
import { network, applyOccupancy, layout, draw, edgePixel, gridNetwork, binOf, BACKGROUND_RGBA } from './map.js';

let canvas = null;
let ctx = null;
let net = null;
let lay = null;
let image = null;
let size = { w: 0, h: 0 };
let lastDraw = -Infinity;
let timer = null;
const stats = { redraws: 0, drawMs: [] };

function relayout() {
  lay = null;
  if (!net || !canvas || !size.w || !size.h) return;
  canvas.width = size.w;
  canvas.height = size.h;
  lay = layout(net, size.w, size.h);
  image = new ImageData(size.w, size.h);
  redraw();
}

function redraw() {
  clearTimeout(timer);
  timer = null;
  if (!lay) return;
  const t0 = performance.now();
  draw(new Uint32Array(image.data.buffer), net, lay);
  ctx.putImageData(image, 0, 0);
  lastDraw = performance.now();
  stats.redraws++;
  stats.drawMs.push(lastDraw - t0);
  if (stats.drawMs.length > 600) stats.drawMs.splice(0, 300);
}

// New state: drawn on the next VIEW_MS boundary, so several sims' messages make one redraw.
function schedule() {
  if (timer === null) timer = setTimeout(redraw, Math.max(0, lastDraw + P.VIEW_MS - performance.now()));
}

// What the canvas shows at a pixel (it may differ from `image` until a redraw).
function shownAt(p) {
  const d = ctx.getImageData(p % size.w, Math.floor(p / size.w), 1, 1).data;
  return [d[0], d[1], d[2]];
}

function probe({ edge }) {
  if (!lay) return null;
  if (timer !== null) redraw();
  let at = edge == null ? -1 : net.index[edge];
  if (edge == null) {
    let best = -1;
    for (let i = 0; i < net.n; i++) {
      const r = net.occ[i] / net.capacity[i];
      if (r > best) [best, at] = [r, i];
    }
  }
  if (at < 0) return null;
  const id = net.edgeIds[at];
  const p = edgePixel(net, lay, id);
  return { edge: id, vc: net.occ[at] / net.capacity[at], bin: binOf(net.occ[at], net.capacity[at]),
    rgb: p < 0 ? null : shownAt(p), x: p % size.w, y: Math.floor(p / size.w) };
}

// How many edges the canvas shows at their middle pixel (in their colour, or
// a vehicle's where a neighbour's vehicles cover a short edge).
function edgesDrawn() {
  if (!lay) return 0;
  const shown = new Uint32Array(ctx.getImageData(0, 0, size.w, size.h).data.buffer);
  let n = 0;
  for (let i = 0; i < net.n; i++) {
    const p = edgePixel(net, lay, net.edgeIds[i]);
    if (p >= 0 && shown[p] !== BACKGROUND_RGBA) n++;
  }
  return n;
}

// The redraw cost on its own: a synthetic grid drawn into a scratch canvas of
// the map's size, with new occupancy before every redraw.
function bench({ side, vehicles, redraws }) {
  const w = size.w || 940;
  const h = size.h || 520;
  const g = network(gridNetwork(side));
  const scratch = new OffscreenCanvas(w, h).getContext('2d');
  const img = new ImageData(w, h);
  const frame = new Uint32Array(img.data.buffer);
  const ids = g.edgeIds;
  const occ = new Uint16Array(g.n);
  const t0 = performance.now();
  const l = layout(g, w, h);
  const layoutMs = performance.now() - t0;
  const times = [];
  for (let r = 0; r < redraws; r++) {
    occ.fill(0);
    for (let k = 0; k < vehicles; k++) occ[(k * 7919 + r) % g.n]++;
    const t = performance.now();
    applyOccupancy(g, ids, occ);
    draw(frame, g, l);
    scratch.putImageData(img, 0, 0);
    times.push(performance.now() - t);
  }
  return { edges: g.n, vehicles, w, h, layoutMs, times };
}

const answer = P.answerer({
  [P.MAP_PROBE]: probe,
  [P.MAP_STATS]: () => ({ ...stats, drawMs: stats.drawMs.slice(), edges: net?.n ?? 0, edgesDrawn: edgesDrawn() }),
  [P.MAP_BENCH]: bench,
});

self.onmessage = ({ data: m }) => {
  if (answer(m)) return;
  switch (m.type) {
    case P.MAP_CANVAS:
      canvas = m.canvas;
      ctx = canvas.getContext('2d');
      relayout();
      return;
    case P.MAP_NETWORK:
      net = m.net && network(m.net);
      if (net) {
        const [minX, minY, maxX, maxY] = net.bounds;
        self.postMessage(P.msg(P.MAP_SHAPE, { width: maxX - minX || 1, height: maxY - minY || 1 }));
      }
      relayout();
      return;
    case P.MAP_SIZE:
      if (m.w === size.w && m.h === size.h) return;
      size = { w: m.w, h: m.h };
      relayout();
      return;
    case P.MAP_OCCUPANCY:
      if (!net) return;
      applyOccupancy(net, m.edges, m.occupancy);
      schedule();
      return;
    default:
      console.warn('[vpslog map] unexpected message', m?.type);
  }
};
