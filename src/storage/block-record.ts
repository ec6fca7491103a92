import { crc32c } from '../actors/crc32c.js';
import { blockBytes } from './block-keys.js';

/**
 * How one 4 KiB block is stored in LMDB: as two records written in the same transaction.
 *
 *   | record | key                         | value                                         |
 *   |--------|-----------------------------|-----------------------------------------------|
 *   | head   | b:<gmap>:<block>:<epoch>    | bytes 0..4072 of the block                    |
 *   | tail   | t:<gmap>:<block>:<epoch>    | u32 LE CRC32C of all 4096 bytes, bytes 4072.. |
 *
 * Why split: LMDB keeps a value this large in overflow pages, each run with a 24-byte page header
 * (lmdb-js 3.5). A whole block plus its checksum needs two 4 KiB pages, so a disk took 2.03× the
 * bytes written; a head of 4072 bytes fills exactly one page and the 28-byte tail sits in a leaf
 * page with its neighbours (1.06× measured, BENCHMARKS.md). lmdb-js commits every write of one event turn
 * in one transaction, so a block is never stored half old, half new.
 */
export const headBytes = 4072;
export const tailBytes = 4 + (blockBytes - headBytes);

/** The two values that store `block` (4096 bytes); fresh buffers, as lmdb-js reads them at commit. */
export function splitBlock(block: Uint8Array): { head: Buffer; tail: Buffer } {
  const head = Buffer.allocUnsafe(headBytes);
  head.set(block.subarray(0, headBytes));
  const tail = Buffer.allocUnsafe(tailBytes);
  tail.writeUInt32LE(crc32c(block), 0);
  tail.set(block.subarray(headBytes), 4);
  return { head, tail };
}

/**
 * Completes a block in `into` (4096 bytes) whose head the caller already copied to its start
 * (a storage read view lasts only until the next read); false when the tail is missing, has the
 * wrong size, or the checksum does not match.
 */
export function finishBlock(tail: Uint8Array | undefined, into: Uint8Array): boolean {
  if (tail?.length !== tailBytes) return false;
  into.set(tail.subarray(4), headBytes);
  return crc32c(into) === checksumOf(tail);
}

/** Whether a stored head and tail hold a block that matches its checksum (scrub, without copying). */
export function recordIntact(head: Uint8Array, tail: Uint8Array | undefined): boolean {
  if (head.length !== headBytes || tail?.length !== tailBytes) return false;
  return crc32c(tail.subarray(4), crc32c(head)) === checksumOf(tail);
}

function checksumOf(tail: Uint8Array): number {
  return (tail[0]! | (tail[1]! << 8) | (tail[2]! << 16) | (tail[3]! << 24)) >>> 0;
}
