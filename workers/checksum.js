// CRC32C (Castagnoli), incremental, via hash-wasm's WebAssembly CRC32 with the
// Castagnoli polynomial (~1 GB/s; a JS table loop managed ~50 MB/s here).
// The same checksum S3 and R2 accept as x-amz-checksum-crc32c.
import { createCRC32 } from 'hash-wasm';

const CASTAGNOLI = 0x82f63b78;

export async function createCrc32c() {
  const h = await createCRC32(CASTAGNOLI);
  h.init();
  return h; // .update(u8), .digest('hex') -> 8 hex digits
}
