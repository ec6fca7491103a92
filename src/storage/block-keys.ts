import { assert } from '../assert.js';

/**
 * Keys of a disk actor's LMDB environment. Numbers are fixed-width lowercase hex, so key order is
 * numeric order, and all versions of one block sit together, oldest epoch first. Block data are
 * not here: they sit in the disk's block file (file-slots.ts), and a block's key says where.
 *
 *   | key                                   | value                                        |
 *   |---------------------------------------|----------------------------------------------|
 *   | meta:format                           | JSON DiskFormat (see disk-format.ts)         |
 *   | b:<gmap 8>:<block 12>:<epoch 8>       | the block's slot and CRC32C (block-entry.ts) |
 *   | h:<gmap 8>:<block 12>:<epoch 8>       | empty: a hole (zeros) written at this epoch, |
 *   |                                       | hiding any older version of the block        |
 *   | busy:<gmap 8>:<region 10>             | empty: a write may be in flight (Petal §2.4) |
 *   | stale:<gmap 8>:<region 10>            | empty: the partner copy missed writes        |
 *
 * gmap is a global map id, block a 4 KiB block number within it (up to 2^48), region a 64 KiB
 * region number. Data and holes live apart so that counting `b:` keys counts allocated blocks.
 */
export const blockBytes = 4096;
export const regionBytes = 64 * 1024;
export const blocksPerRegion = regionBytes / blockBytes;
export const blockNumberMax = 2 ** 48 - 1;
export const epochMax = 2 ** 32 - 1;
export const gmapMax = 2 ** 32 - 1;

export type MarkKind = 'busy' | 'stale';

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}

export type BlockKind = 'b' | 'h';

// Keys are built for every block read and written: the checks build their messages only on failure.
function inRange(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

export function blockPrefix(kind: BlockKind, gmap: number, block: number): string {
  if (!inRange(gmap, gmapMax) || !inRange(block, blockNumberMax)) assert(false, `gmap ${gmap} block ${block}`);
  return `${kind}:${hex(gmap, 8)}:${hex(block, 12)}:`;
}

export function blockKey(kind: BlockKind, gmap: number, block: number, epoch: number): string {
  if (!inRange(epoch, epochMax)) assert(false, `epoch ${epoch}`);
  return blockPrefix(kind, gmap, block) + hex(epoch, 8);
}

export function epochOfKey(key: string): number {
  return parseInt(key.slice(key.lastIndexOf(':') + 1), 16);
}

/** Every key of one kind for one gmap sorts between these two. */
export function gmapKeyRange(kind: BlockKind, gmap: number): [string, string] {
  if (!inRange(gmap, gmapMax)) assert(false, `gmap ${gmap}`);
  return [`${kind}:${hex(gmap, 8)}:`, `${kind}:${hex(gmap, 8)};`];
}

/** Every key of one kind, of every gmap, sorts between these two. */
export function everyKeyOf(kind: BlockKind): [string, string] {
  return [`${kind}:`, `${kind};`];
}

/** All block heads of every gmap (one per stored block) sort between these two. */
export const [blockKeysFrom, blockKeysTo] = everyKeyOf('b');

export function parseBlockKey(key: string): { gmap: number; block: number; epoch: number } {
  const [tag, gmap, block, epoch] = key.split(':');
  assert((tag === 'b' || tag === 'h') && gmap && block && epoch, `not a block key: ${key}`);
  return { gmap: parseInt(gmap, 16), block: parseInt(block, 16), epoch: parseInt(epoch, 16) };
}

export function markKey(kind: MarkKind, gmap: number, region: number): string {
  assert(Number.isInteger(region) && region >= 0 && region < 2 ** 40, `region ${region}`);
  return `${kind}:${hex(gmap, 8)}:${hex(region, 10)}`;
}

export function markRange(kind: MarkKind): [string, string] {
  return [`${kind}:`, `${kind};`];
}

export function parseMarkKey(key: string): { gmap: number; region: number } {
  const [, gmap, region] = key.split(':');
  return { gmap: parseInt(gmap!, 16), region: parseInt(region!, 16) };
}
