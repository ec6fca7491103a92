import { assert } from '../assert.js';

/**
 * Keys of a disk actor's LMDB environment. Numbers are fixed-width lowercase hex, so key order is
 * numeric order, and all versions of one region sit together, oldest epoch first. Block data are
 * not here: they sit in the disk's block file (file-slots.ts), and a region's entry says where.
 *
 *   | key                                   | value                                        |
 *   |---------------------------------------|----------------------------------------------|
 *   | meta:format                           | JSON DiskFormat (see disk-format.ts)         |
 *   | r:<gmap 8>:<region 10>:<epoch 8>      | what each of the region's 16 blocks holds at |
 *   |                                       | this epoch: nothing, data (slot and CRC32C), |
 *   |                                       | a hole or a lost block (region-entry.ts)     |
 *   | busy:<gmap 8>:<region 10>             | empty: a write may be in flight (Petal §2.4) |
 *   | stale:<gmap 8>:<region 10>            | empty: the partner copy missed writes        |
 *   | term:<group>                          | decimal: the newest term of the replica group |
 *   |                                       | this disk has accepted (terms.ts)            |
 *
 * gmap is a global map id, block a 4 KiB block number within it (up to 2^48), region a 64 KiB
 * region number (block / 16). One entry per region and epoch, not per block: a 1 MiB write puts
 * 16 entries, not 256 (BENCHMARKS.md, "Region entries").
 */
export const blockBytes = 4096;
export const regionBytes = 64 * 1024;
export const blocksPerRegion = regionBytes / blockBytes;
export const blockNumberMax = 2 ** 48 - 1;
export const regionNumberMax = (blockNumberMax + 1) / blocksPerRegion - 1;
export const epochMax = 2 ** 32 - 1;
export const gmapMax = 2 ** 32 - 1;

export type MarkKind = 'busy' | 'stale';

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}

// Keys are built for every region read and written: the checks build their messages only on failure.
function inRange(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

export function regionPrefix(gmap: number, region: number): string {
  if (!inRange(gmap, gmapMax) || !inRange(region, regionNumberMax)) assert(false, `gmap ${gmap} region ${region}`);
  return `r:${hex(gmap, 8)}:${hex(region, 10)}:`;
}

export function regionKey(gmap: number, region: number, epoch: number): string {
  if (!inRange(epoch, epochMax)) assert(false, `epoch ${epoch}`);
  return regionPrefix(gmap, region) + hex(epoch, 8);
}

/** Every version of regions [first, last] of `gmap` sorts between these two. */
export function regionRange(gmap: number, first: number, last: number): [string, string] {
  return [regionPrefix(gmap, first), `${regionPrefix(gmap, last)}~`];
}

/** Every region key of one gmap sorts between these two. */
export function gmapKeyRange(gmap: number): [string, string] {
  if (!inRange(gmap, gmapMax)) assert(false, `gmap ${gmap}`);
  return [`r:${hex(gmap, 8)}:`, `r:${hex(gmap, 8)};`];
}

/** All region entries of every gmap sort between these two. */
export const regionKeysFrom = 'r:';
export const regionKeysTo = 'r;';

export function parseRegionKey(key: string): { gmap: number; region: number; epoch: number } {
  const [tag, gmap, region, epoch] = key.split(':');
  assert(tag === 'r' && gmap && region && epoch, `not a region key: ${key}`);
  return { gmap: parseInt(gmap, 16), region: parseInt(region, 16), epoch: parseInt(epoch, 16) };
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

/** The key of the newest term of replica group `group` a disk has accepted (terms.ts). */
export function termKey(group: string): string {
  return `term:${group}`;
}

export const termKeysFrom = 'term:';
export const termKeysTo = 'term;';
