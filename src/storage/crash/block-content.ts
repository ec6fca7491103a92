import { Prng } from '../../prng.js';
import { blockBytes } from '../block-keys.js';

/** The crash check's disk: writes land on blocks 0..crashBlocks-1 of gmap 0, epoch 0. */
export const crashBlocks = 256;
export const crashCapacityBytes = 64 * 1024 * 1024;
export const crashOwner = 'crash-check';

/**
 * The bytes the crash writer puts in a block for write number `seq`: a header naming the write,
 * then bytes drawn from `seq`, so that a checker can tell which write a block holds and whether
 * it holds all of it.
 *
 *   | bytes  | field                        |
 *   |--------|------------------------------|
 *   | 0..7   | seq (u64 LE, as a double)    |
 *   | 8..15  | block (u64 LE, as a double)  |
 *   | 16..   | PRNG(seq) bytes              |
 */
export function blockContent(seq: number, block: number): Buffer {
  const bytes = Buffer.allocUnsafe(blockBytes);
  bytes.writeDoubleLE(seq, 0);
  bytes.writeDoubleLE(block, 8);
  new Prng(seq * 2654435761).bytes(blockBytes - 16).copy(bytes, 16);
  return bytes;
}

export function seqOf(bytes: Buffer): number {
  return bytes.readDoubleLE(0);
}
