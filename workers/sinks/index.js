// The one registry of storage strategies: a run's mode names one of these.
// Everything that differs between them is a member of the sink class.
import { CloudSink } from './cloud.js';
import { NullSink } from './null.js';
import { OpfsSink } from './opfs.js';

export const SINKS = { opfs: OpfsSink, cloud: CloudSink, null: NullSink };

export const DEFAULT_MODE = 'opfs';

export const sinkFor = (mode) => (Object.hasOwn(SINKS, mode) ? SINKS[mode] : null);

// What the page offers and needs to know of each mode (LOG_MODES).
export const sinkModes = () => Object.entries(SINKS).map(([mode, S]) => ({
  mode, label: S.label, serverRun: S.serverRun, default: mode === DEFAULT_MODE,
}));
