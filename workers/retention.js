// Storage management: the retention policy (remembered in OPFS, so the logger
// applies it at startup without the page), what it removes, the pre-flight
// check before a run, and the usage figures. Only closed, unpinned runs are
// ever removed: open and recovered runs and the DLQ hold data that is not safe
// anywhere else. `catalogue` is {runs(): entries, remove(runId)} from the logger.
import { dirBytes, opfsDir, readJsonIfAny, writeJson } from './storage.js';

const POLICY_FILE = 'retention.json';
const DAY_MS = 86_400_000;
export const DEFAULT_POLICY = Object.freeze({
  maxTotalBytes: null,      // keep closed runs' total under this (oldest removed first)
  maxAgeDays: null,         // remove closed runs older than this
  minHeadroomBytes: 1 << 20, // a run must leave at least this much free
  freeSpaceForRuns: false,  // delete the oldest closed runs when a run would not fit
  pinned: [],               // run ids never removed
});

export function normalizePolicy(p = {}) {
  const num = (v, min) => (v === null || v === undefined || v === '' ? null : Number.isFinite(Number(v)) && Number(v) >= min ? Number(v) : NaN);
  const policy = {
    maxTotalBytes: num(p.maxTotalBytes, 0),
    maxAgeDays: num(p.maxAgeDays, 0),
    minHeadroomBytes: num(p.minHeadroomBytes, 0) ?? DEFAULT_POLICY.minHeadroomBytes,
    freeSpaceForRuns: !!p.freeSpaceForRuns,
    pinned: Array.isArray(p.pinned) ? [...new Set(p.pinned.filter((id) => typeof id === 'string'))] : [],
  };
  const bad = Object.entries(policy).filter(([, v]) => Number.isNaN(v)).map(([k]) => k);
  if (bad.length) throw new Error(`retention policy: ${bad.join(', ')} must be a number ≥ 0 or empty`);
  return policy;
}

// Bytes a run will need, when its configuration says: a load run at real-time
// pace with a length. Other runs' size cannot be known beforehand (null).
export function expectedRunBytes(config, recordSize) {
  const { source, pace, durationS, workers } = config ?? {};
  const rate = source?.params?.rate;
  if (source?.source !== 'load' || !(rate > 0) || pace !== 'realtime' || !(durationS > 0)) return null;
  return Math.ceil(rate * durationS) * workers * recordSize;
}

// False when selectForRemoval would remove nothing whatever the runs are.
export const mayRemove = (policy, free, need) => policy.maxTotalBytes !== null || policy.maxAgeDays !== null
  || (policy.freeSpaceForRuns && free < need);

// Run ids to remove, oldest first. runs: catalogue entries {runId, status,
// bytes, createdAt, live}; free/need: bytes free now and needed by a new run.
export function selectForRemoval(runs, policy, { now = Date.now(), free = Infinity, need = 0 } = {}) {
  const pinned = new Set(policy.pinned);
  const candidates = runs
    .filter((r) => r.status === 'closed' && !r.live && !pinned.has(r.runId))
    .sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)));
  let total = runs.filter((r) => r.status === 'closed').reduce((a, r) => a + (r.bytes ?? 0), 0);
  const out = [];
  for (const r of candidates) {
    const tooOld = policy.maxAgeDays !== null && now - Date.parse(r.createdAt) > policy.maxAgeDays * DAY_MS;
    const tooBig = policy.maxTotalBytes !== null && total > policy.maxTotalBytes;
    const needed = policy.freeSpaceForRuns && free < need;
    if (tooOld || tooBig || needed) {
      out.push(r.runId);
      total -= r.bytes ?? 0;
      free += r.bytes ?? 0;
    }
  }
  return out;
}

export async function loadPolicy() {
  return normalizePolicy((await readJsonIfAny(await opfsDir('settings'), POLICY_FILE)) ?? DEFAULT_POLICY);
}

export async function savePolicy(policy) {
  const p = normalizePolicy(policy);
  await writeJson(await opfsDir('settings'), POLICY_FILE, p);
  return p;
}

const MiB = (n) => `${(n / (1 << 20)).toFixed(1)} MiB`;

// Why a run needing `need` bytes (null: unknown) cannot start with `free` bytes free, or null.
export function refusal(expected, policy, free, quota) {
  const need = (expected ?? 0) + policy.minHeadroomBytes;
  if (free >= need) return null;
  const what = expected === null ? `a minimum headroom of ${MiB(policy.minHeadroomBytes)}`
    : `about ${MiB(expected)} for its configured length plus ${MiB(policy.minHeadroomBytes)} headroom`;
  return `not enough storage for this run: it needs ${what}, but only ${MiB(Math.max(free, 0))} of the ${MiB(quota)} quota is free. `
    + 'Delete or unpin stored runs, shorten the run, or let the retention policy free space for runs.';
}

export async function withPins(runsPromise) {
  const [runs, policy] = await Promise.all([runsPromise, loadPolicy()]);
  return runs.map((r) => ({ ...r, pinned: policy.pinned.includes(r.runId) }));
}

export async function setPinned(runId, pinned) {
  const policy = await loadPolicy();
  const ids = new Set(policy.pinned);
  if (pinned) ids.add(runId);
  else ids.delete(runId);
  await savePolicy({ ...policy, pinned: [...ids] });
}

async function freeBytes() {
  const { usage = 0, quota = 0 } = await navigator.storage.estimate();
  return { free: quota - usage, quota };
}

// Apply the policy; `need` bytes for a run about to start (pre-flight). Returns
// the bytes removed (estimate() catches up with deletions only later).
// Removes what the policy selects: {bytes, runIds} removed.
export async function applyRetention(policy, catalogue, { free, need } = {}) {
  const runs = await catalogue.runs();
  const size = new Map(runs.map((r) => [r.runId, r.bytes ?? 0]));
  const removed = { bytes: 0, runIds: [] };
  for (const runId of selectForRemoval(runs, policy, { free, need })) {
    await catalogue.remove(runId);
    removed.bytes += size.get(runId);
    removed.runIds.push(runId);
  }
  return removed;
}

// Before a run of `expected` bytes (null: unknown): apply the policy, free
// space for the run if the policy says so, and refuse a run that cannot fit.
export async function preflight(expected, catalogue) {
  const [policy, { free, quota }] = await Promise.all([loadPolicy(), freeBytes()]);
  const need = (expected ?? 0) + policy.minHeadroomBytes;
  // Listing the catalogue reads every manifest: only when the policy may remove a run.
  const removed = mayRemove(policy, free, need) ? (await applyRetention(policy, catalogue, { free, need })).bytes : 0;
  const why = refusal(expected, policy, free + removed, quota);
  if (why) throw new Error(why);
}

export async function storageUsage(catalogue) {
  const [runs, policy, estimate] = await Promise.all([catalogue.runs(), loadPolicy(), navigator.storage.estimate()]);
  const bytesByStatus = {};
  for (const r of runs) bytesByStatus[r.status] = (bytesByStatus[r.status] ?? 0) + (r.bytes ?? 0);
  return {
    estimate: { usage: estimate.usage, quota: estimate.quota }, bytesByStatus,
    dlqBytes: await dirBytes('dlq'), quarantineBytes: await dirBytes('quarantine'), snapshotBytes: await dirBytes('snapshots'),
    policy,
  };
}

// Save the policy (pins are kept: they are set per run) and apply it.
export async function setPolicy(policy, catalogue) {
  const saved = await savePolicy({ ...policy, pinned: (await loadPolicy()).pinned });
  const { runIds } = await applyRetention(saved, catalogue);
  return { ...(await storageUsage(catalogue)), removed: runIds };
}
