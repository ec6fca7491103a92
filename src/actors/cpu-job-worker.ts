import { crc32c } from './crc32c.js';

/**
 * A piscina task: CRC32C of a range of a shared slab. The slab is passed by reference
 * (SharedArrayBuffer), so the bytes are never copied to the job's thread.
 *
 *   | field       | meaning                              |
 *   |-------------|--------------------------------------|
 *   | data        | the slab's SharedArrayBuffer         |
 *   | offsetBytes | where the range starts in the slab   |
 *   | lengthBytes | how long it is                       |
 */
export interface Crc32cTask {
  readonly data: SharedArrayBuffer;
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

export default function checksum(task: Crc32cTask): number {
  return crc32c(new Uint8Array(task.data, task.offsetBytes, task.lengthBytes));
}
