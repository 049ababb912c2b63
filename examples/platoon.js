// A model written in JavaScript, logging through vpslog's JS producer API
// (workers/sim/jspart.js): vehicles follow each other round a ring road of
// equal edges with the Intelligent Driver Model. Each worker drives its own
// platoon on its own ring. It logs the events stream (edge enter/exit) and a
// declared `follow` stream: every vehicle's gap to its leader, speed and
// acceleration every `sample_ms`.
//
// Run it in the page with the source spec `js:<URL of this file>`.

const IDM = { v0: 25, T: 1.2, a: 1.2, b: 2.0, s0: 2.5, len: 4.5 }; // m/s, s, m/s², m/s², m, m

export default class Platoon {
  static name = 'platoon';
  static version = '1';
  static params = { vehicles: 40, edges: 16, edge_m: 125, step_ms: 100, sample_ms: 500, duration_s: 600 };
  static streams = [{
    name: 'follow',
    fields: [['time_ms', 'uint32'], ['vehicle', 'uint32'], ['leader', 'uint32'], ['gap_m', 'float32'], ['speed', 'float32'], ['accel', 'float32']],
  }];

  constructor(part, params) {
    this.part = part;
    this.p = params;
    this.ring = params.edges * params.edge_m;
    const random = part.rng('platoon');
    // evenly spaced, with a little jitter and a slow vehicle: a jam wave forms
    this.pos = Array.from({ length: params.vehicles }, (_, i) => (i * this.ring) / params.vehicles + random() * 2);
    this.speed = this.pos.map((_, i) => (i === 0 ? 8 : 15 + random() * 5));
    this.accel = this.pos.map(() => 0);
    this.base = part.worker * params.vehicles; // vehicle ids of this worker's platoon
    this.edgeBase = part.worker * params.edges;
    this.sampled = 0;
  }

  edgeOf(x) {
    return this.edgeBase + Math.floor((x % this.ring) / this.p.edge_m);
  }

  *run(log) {
    const { vehicles, step_ms: stepMs, sample_ms: sampleMs, duration_s: durationS } = this.p;
    const dt = stepMs / 1000;
    for (let i = 0; i < vehicles; i++) log.enter(0, this.base + i, this.edgeOf(this.pos[i]));
    for (let t = stepMs; t <= durationS * 1000; t += stepMs) {
      for (let i = 0; i < vehicles; i++) {
        const lead = (i + 1) % vehicles;
        const gap = ((this.pos[lead] - this.pos[i] + this.ring) % this.ring) - IDM.len;
        const dv = this.speed[i] - this.speed[lead];
        const sStar = IDM.s0 + Math.max(0, this.speed[i] * IDM.T + (this.speed[i] * dv) / (2 * Math.sqrt(IDM.a * IDM.b)));
        this.accel[i] = IDM.a * (1 - (this.speed[i] / IDM.v0) ** 4 - (sStar / Math.max(gap, 0.1)) ** 2);
      }
      for (let i = 0; i < vehicles; i++) {
        const before = this.edgeOf(this.pos[i]);
        this.speed[i] = Math.max(0, this.speed[i] + this.accel[i] * dt);
        this.pos[i] = (this.pos[i] + this.speed[i] * dt) % this.ring;
        const after = this.edgeOf(this.pos[i]);
        if (after !== before) {
          log.exit(t, this.base + i, before);
          log.enter(t, this.base + i, after);
        }
      }
      if (t - this.sampled >= sampleMs) {
        this.sampled = t;
        for (let i = 0; i < vehicles; i++) {
          const lead = (i + 1) % vehicles;
          const gap = ((this.pos[lead] - this.pos[i] + this.ring) % this.ring) - IDM.len;
          log.follow(t, this.base + i, this.base + lead, gap, this.speed[i], this.accel[i]);
        }
      }
      yield;
    }
  }

  // The live map: vehicles on each of this platoon's edges.
  view() {
    const occupancy = new Array(this.p.edges).fill(0);
    for (const x of this.pos) occupancy[this.edgeOf(x) - this.edgeBase]++;
    return { edges: occupancy.map((_, e) => this.edgeBase + e), occupancy };
  }
}
