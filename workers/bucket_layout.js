// Where a CLOUD run's objects live in the bucket, the part size and the run-token
// header, read from the same bucket_layout.json the Python store uses.
import layout from '../py/vpslog/bucket_layout.json' with { type: 'json' };

export const PART_BYTES = layout.part_bytes;
export const RUN_TOKEN_HEADER = layout.headers.run_token;
export const EVENTS_STREAM = layout.events_stream;

// A stream's parts hold whole records: PART_BYTES rounded down to its record size.
export const partBytes = (recordSize) => PART_BYTES - (PART_BYTES % recordSize);

// A part's number as its key and its dead-letter entry spell it: 1 -> '000001'.
export const partNumber = (n) => String(n).padStart(layout.part_digits, '0');

// The events stream keeps the layout of runs before streams; another stream has its own folder.
export const partKey = (runId, n, stream = EVENTS_STREAM) => (stream === EVENTS_STREAM ? layout.keys.part : layout.keys.stream_part)
  .replace('{runId}', runId).replace('{stream}', stream).replace('{part}', partNumber(n));
