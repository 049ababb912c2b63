// Where a CLOUD run's objects live in the bucket, the part size and the run-token
// header, read from the same bucket_layout.json the Python store uses.
import layout from '../py/vpslog/bucket_layout.json' with { type: 'json' };

export const PART_BYTES = layout.part_bytes;
export const RUN_TOKEN_HEADER = layout.headers.run_token;

// A part's number as its key and its dead-letter entry spell it: 1 -> '000001'.
export const partNumber = (n) => String(n).padStart(layout.part_digits, '0');

export const partKey = (runId, n) => layout.keys.part.replace('{runId}', runId).replace('{part}', partNumber(n));
