// Coordination between the tabs of one origin: Web Lock names and the
// BroadcastChannel they talk on (message shapes: protocol.js TAB_*).
export const CHANNEL = 'vpslog';
export const DLQ_LOCK = 'vpslog-dlq-replay';
const RUN_PREFIX = 'vpslog-run:';

// Held by the writing tab's logger for the whole life of the run.
export const runLock = (runId) => `${RUN_PREFIX}${runId}`;

// Ids of the runs some tab of this origin is writing right now.
export async function liveRunIds() {
  const { held } = await navigator.locks.query();
  return new Set(held.map((l) => l.name).filter((n) => n.startsWith(RUN_PREFIX)).map((n) => n.slice(RUN_PREFIX.length)));
}

// Take the lock `name` if free and keep it until the returned release() is
// called; throws if another holder has it.
export function holdLock(name) {
  return new Promise((acquired, failed) => {
    let release;
    const held = new Promise((r) => { release = r; });
    navigator.locks.request(name, { ifAvailable: true }, (lock) => {
      if (!lock) {
        failed(new Error(`${name} is held by another tab`));
        return undefined;
      }
      acquired(release);
      return held;
    }).catch(failed);
  });
}
