// A run's streams as the logger takes them: the layouts an open request names
// (as the sims' prepare described them), checked, and a producer's declaration
// compared with them.
import { BUILTIN, EVENTS, MAX_STREAMS, declareStreams, fromJson, toJson } from '../layout.js';

// Left out: events only (a caller that predates streams, or a test's own producers).
export function runStreams(streams) {
  if (streams == null) return [EVENTS];
  if (!Array.isArray(streams) || streams[0]?.name !== 'events') {
    throw new Error(`open needs the run's streams in index order, events first (docs/streams.md), got ${describeStreams(streams)}`);
  }
  if (streams.length > MAX_STREAMS) throw new Error(`a run holds at most ${MAX_STREAMS} streams, got ${streams.length}`);
  const layouts = streams.map(fromJson);
  const declared = layouts.filter((l) => !BUILTIN[l.name]);
  declareStreams(declared.map((l) => ({ name: l.name, fields: l.fields.map((f) => [f.name, f.type]), enums: l.enums })));
  if (layouts.some((l, i) => BUILTIN[l.name] && JSON.stringify(toJson(l)) !== JSON.stringify(toJson(BUILTIN[l.name])))) {
    throw new Error('a built-in stream (events, events_wide) must keep its built-in layout');
  }
  return layouts;
}

// A producer's meta.run.streams (left out: events only) against the run's layouts.
// Compared in the resolved form, whatever order the sender's JSON keys came in.
export function sameStreams(declared, layouts) {
  const canonical = (ls) => JSON.stringify(ls.map(toJson));
  try {
    return canonical((declared ?? [toJson(EVENTS)]).map(fromJson)) === canonical(layouts);
  } catch {
    return false; // not even valid layouts
  }
}

export function describeStreams(streams) {
  return Array.isArray(streams) ? `[${streams.map((s) => s?.name ?? '?').join(', ')}]` : JSON.stringify(streams);
}
