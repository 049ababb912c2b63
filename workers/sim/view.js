// What the page's live view gets from a sim: compact aggregates counted from
// the buffers as they leave (never the records themselves), and the model's own
// state if it publishes one. Everything posted is transferred typed arrays.
import * as P from '../protocol.js';

function topEdges(counts, k) {
  const edges = [];
  for (let e = 0; e < counts.length; e++) {
    const c = counts[e];
    if (!c || (edges.length === k && c <= counts[edges[k - 1]])) continue;
    let i = Math.min(edges.length, k - 1);
    while (i > 0 && counts[edges[i - 1]] < c) i--;
    edges.splice(i, 0, e);
    if (edges.length > k) edges.pop();
  }
  return { edges: Uint16Array.from(edges), counts: Float64Array.from(edges, (e) => counts[e]) };
}

// The map's geometry, if the source's edge table has it: typed arrays, once.
export function postNetwork(edges) {
  if (!edges?.x0) return;
  const f32 = (k) => Float32Array.from(edges[k]);
  const net = { edgeIds: Uint16Array.from(edges.edge_id), x0: f32('x0'), y0: f32('y0'), x1: f32('x1'), y1: f32('y1'), capacity: f32('capacity') };
  self.postMessage(P.msg(P.SIM_NETWORK, net), Object.values(net).map((a) => a.buffer));
}

export class ViewCounts {
  status = new Float64Array(4); // cumulative, by status code
  edgeEvents = new Uint32Array(65536);
  lastView = 0;
  viewBroken = false;

  // Hot loop: runs over every events record this sim sends (`layout`: events or
  // events_wide). The busiest-edges view covers edge ids below 65,536, as the map
  // does (a source's edge table has 16-bit ids); wide ids above count by status only.
  count(data, layout) {
    const { status, edgeEvents } = this;
    const size = layout.recordSize;
    const edgeAt = layout.fields.find((f) => f.name === 'edge_id').offset;
    const statusAt = layout.fields.find((f) => f.name === 'status').offset;
    const wide = layout.name === 'events_wide';
    for (let r = 0; r < data.byteLength; r += size) {
      const e = r + edgeAt;
      if (!wide || (data[e + 2] | data[e + 3]) === 0) edgeEvents[data[e] | (data[e + 1] << 8)]++;
      status[data[r + statusAt]]++;
    }
  }

  statusCounts() {
    return { enter: this.status[1], exit: this.status[2], error: this.status[3] };
  }

  due() {
    return performance.now() - this.lastView >= P.VIEW_MS;
  }

  // One view message: status counts, the busiest edges so far, and the model's
  // own state (per-edge occupancy) if it publishes one.
  post(producer, records, part) {
    this.lastView = performance.now();
    const top = topEdges(this.edgeEvents, P.VIEW_TOP_EDGES);
    const [occEdges, occupancy] = this.#occupancy(part);
    const m = { producer, simTimeMs: part.simTimeMs, records, status: this.status.slice(),
      topEdges: top.edges, topCounts: top.counts, occEdges, occupancy };
    self.postMessage(P.msg(P.SIM_VIEW, m), [m.status.buffer, m.topEdges.buffer, m.topCounts.buffer, occEdges.buffer, occupancy.buffer]);
  }

  #occupancy(part) {
    const none = [new Uint16Array(0), new Uint16Array(0)];
    if (this.viewBroken) return none;
    try {
      return part.view() ?? none;
    } catch (e) {
      this.viewBroken = true; // a broken view() must not stop the logging
      self.postMessage(P.msg(P.SIM_ERROR, { message: `the model's view() failed, the map stops updating: ${e.message}` }));
      return none;
    }
  }
}
