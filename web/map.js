// The map's pixels, as plain functions of typed arrays (no DOM): the network's
// edges rasterised once per network and canvas size, then each redraw is only
// pixel writes into a Uint32Array (no path rasterising, which costs tens of ms
// for 30,000+ edges in a software-rendered canvas). Runs in the map worker.

// V/C colours: empty, < 0.5, < 0.75, < 1, < 1.5, ≥ 1.5 (over capacity).
export const VC_COLOURS = ['#c9ced6', '#3aa55d', '#9bc53d', '#f2c14e', '#f0803c', '#d62839'];
// Colours as little-endian RGBA words, for writing an ImageData's pixels directly.
const rgba = (hex) => ((0xff << 24) | (parseInt(hex.slice(5, 7), 16) << 16) | (parseInt(hex.slice(3, 5), 16) << 8) | parseInt(hex.slice(1, 3), 16)) >>> 0;
const BIN_RGBA = Uint32Array.from(VC_COLOURS, rgba);
export const VEHICLE_RGBA = rgba('#1d2330');
export const BACKGROUND_RGBA = rgba('#fbfbfc');

export function binOf(occ, capacity) {
  if (occ === 0) return 0;
  const vc = occ / capacity;
  return vc >= 1.5 ? 5 : vc >= 1 ? 4 : vc >= 0.75 ? 3 : vc >= 0.5 ? 2 : 1;
}

// {edgeIds: Uint16Array, x0, y0, x1, y1, capacity: Float32Array} -> the network
// the map keeps: its bounds, an edge id -> index table and current occupancy.
export function network(net) {
  const n = net.edgeIds.length;
  const index = new Int32Array(65536).fill(-1);
  for (let i = 0; i < n; i++) index[net.edgeIds[i]] = i;
  return { ...net, n, index, occ: new Uint16Array(n), bounds: bounds(net) };
}

// [minX, minY, maxX, maxY] of the edges' end points.
function bounds(net) {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i < net.edgeIds.length; i++) {
    minX = Math.min(minX, net.x0[i], net.x1[i]);
    maxX = Math.max(maxX, net.x0[i], net.x1[i]);
    minY = Math.min(minY, net.y0[i], net.y1[i]);
    maxY = Math.max(maxY, net.y0[i], net.y1[i]);
  }
  return [minX, minY, maxX, maxY];
}

// The model's occupancy for some edges (ids, counts), as a view message carries it.
export function applyOccupancy(net, edges, occupancy) {
  for (let i = 0; i < edges.length; i++) {
    const k = net.index[edges[i]];
    if (k >= 0) net.occ[k] = occupancy[i];
  }
}

// Where every edge's pixels are on a w x h canvas: edge i owns
// pixels[starts[i]..starts[i+1]), and its vehicles sit one step `side[i]` away.
export function layout(net, w, h) {
  const [minX, minY, maxX, maxY] = net.bounds;
  const pad = 8;
  const scale = Math.min((w - 2 * pad) / (maxX - minX || 1), (h - 2 * pad) / (maxY - minY || 1));
  // centred where the canvas is wider or taller than the network's shape
  const padX = (w - (maxX - minX) * scale) / 2;
  const padY = (h - (maxY - minY) * scale) / 2;
  // Opposite directions share a road: each is drawn one or two pixels to its right.
  const off = scale >= 6 ? 2 : 1;
  const starts = new Uint32Array(net.n + 1);
  const side = new Int32Array(net.n);
  const seg = new Float32Array(net.n * 4);
  for (let i = 0; i < net.n; i++) {
    const ax = padX + (net.x0[i] - minX) * scale;
    const ay = padY + (net.y0[i] - minY) * scale;
    const bx = padX + (net.x1[i] - minX) * scale;
    const by = padY + (net.y1[i] - minY) * scale;
    const len = Math.hypot(bx - ax, by - ay) || 1;
    const nx = Math.round((-(by - ay) / len) * off);
    const ny = Math.round(((bx - ax) / len) * off);
    seg[i * 4] = ax + nx;
    seg[i * 4 + 1] = ay + ny;
    seg[i * 4 + 2] = bx + nx;
    seg[i * 4 + 3] = by + ny;
    side[i] = Math.sign(nx) + Math.sign(ny) * w;
    starts[i + 1] = starts[i] + Math.max(0, Math.round(Math.max(Math.abs(bx - ax), Math.abs(by - ay))) - 1);
  }
  // DDA along each segment, leaving a pixel at each end (the junction)
  const pixels = new Uint32Array(starts[net.n]);
  for (let i = 0; i < net.n; i++) {
    const ax = seg[i * 4];
    const ay = seg[i * 4 + 1];
    const dx = seg[i * 4 + 2] - ax;
    const dy = seg[i * 4 + 3] - ay;
    const steps = starts[i + 1] - starts[i] + 1;
    for (let k = 1; k < steps; k++) {
      const x = Math.min(w - 1, Math.max(0, Math.round(ax + (dx * k) / steps)));
      const y = Math.min(h - 1, Math.max(0, Math.round(ay + (dy * k) / steps)));
      pixels[starts[i] + k - 1] = y * w + x;
    }
  }
  return { w, h, starts, pixels, side };
}

// One redraw into `frame` (w*h RGBA words): each edge in its V/C colour, then
// its vehicles as dark pixels spread along its side.
export function draw(frame, net, lay) {
  const { starts, pixels, side } = lay;
  const { capacity, occ } = net;
  frame.fill(BACKGROUND_RGBA);
  for (let i = 0; i < net.n; i++) {
    const o = occ[i];
    const colour = BIN_RGBA[binOf(o, capacity[i])];
    const a = starts[i];
    const b = starts[i + 1];
    for (let p = a; p < b; p++) frame[pixels[p]] = colour;
    const k = Math.min(o, b - a);
    for (let j = 0; j < k; j++) {
      const p = pixels[a + Math.floor(((j + 0.5) * (b - a)) / k)] + side[i];
      if (p >= 0 && p < frame.length) frame[p] = VEHICLE_RGBA;
    }
  }
}

// The pixel a user looks at for an edge (its middle), or -1 if it has none.
export function edgePixel(net, lay, edgeId) {
  const i = net.index[edgeId];
  if (i < 0 || lay.starts[i + 1] === lay.starts[i]) return -1;
  return lay.pixels[(lay.starts[i] + lay.starts[i + 1]) >> 1];
}

// A square grid of side x side junctions with both directions of every street:
// the benchmark's and the tests' synthetic network (2·2·side·(side-1) edges).
export function gridNetwork(side, capacity = 4) {
  const n = 4 * side * (side - 1);
  const net = { edgeIds: new Uint16Array(n), x0: new Float32Array(n), y0: new Float32Array(n), x1: new Float32Array(n),
    y1: new Float32Array(n), capacity: new Float32Array(n).fill(capacity) };
  let i = 0;
  const add = (ax, ay, bx, by) => {
    net.edgeIds[i] = i;
    [net.x0[i], net.y0[i], net.x1[i], net.y1[i]] = [ax, ay, bx, by];
    i++;
  };
  for (let r = 0; r < side; r++) {
    for (let c = 0; c < side; c++) {
      if (c + 1 < side) add(c, r, c + 1, r), add(c + 1, r, c, r);
      if (r + 1 < side) add(c, r, c, r + 1), add(c, r + 1, c, r);
    }
  }
  return net;
}
