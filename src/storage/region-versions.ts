import type { ActorStorage } from '../actors/actor.js';
import { blocksPerRegion, parseRegionKey, regionKey, regionPrefix } from './block-keys.js';
import { RegionEntry } from './region-entry.js';
import type { Stamp } from './stamps.js';

/** Block `at` of a read: where its data sit and their checksum (no slot: lost). */
export interface Found {
  readonly at: number;
  readonly gmap: number;
  readonly epoch: number;
  readonly slot: number | undefined;
  readonly crc: number;
  readonly stamp: Stamp;
}

/** A block that reads as zeros by a hole, with the stamp of the trim that made it. */
export interface Hole {
  readonly hole: true;
  readonly gmap: number;
  readonly epoch: number;
  readonly stamp: Stamp;
}

/** Calls `visit(index in region, block)` for the blocks of `region` within [block, end). */
export function forBlocksOf(region: number, block: number, end: number, visit: (i: number, at: number) => void): void {
  const from = Math.max(block, region * blocksPerRegion);
  const to = Math.min(end, (region + 1) * blocksPerRegion);
  for (let at = from; at < to; at++) visit(at - region * blocksPerRegion, at);
}

/** Whether any block of `region` within [block, end) is in `blocks`. */
export function anyIn(blocks: ReadonlySet<number>, region: number, block: number, end: number): boolean {
  for (let at = Math.max(block, region * blocksPerRegion); at < Math.min(end, (region + 1) * blocksPerRegion); at++)
    if (blocks.has(at)) return true;
  return false;
}

/**
 * One read's view of the versions of the regions it crosses in one global map: the entry at the
 * read's epoch, fetched once per region, and the older entries only when a block has nothing at
 * that epoch.
 */
export class RegionVersions {
  private region = -1;
  private gmap = -1;
  private exact: RegionEntry | undefined;
  private older: Array<{ epoch: number; entry: RegionEntry }> | undefined;

  constructor(private readonly storage: ActorStorage) {}

  /** What `gmap` shows of `block` at `epoch`: its data (slot undefined if lost), a hole, or nothing. */
  find(gmap: number, epoch: number, block: number, at: number): Found | Hole | undefined {
    const region = Math.floor(block / blocksPerRegion);
    const i = block % blocksPerRegion;
    if (region !== this.region || gmap !== this.gmap) {
      this.region = region;
      this.gmap = gmap;
      const value = this.storage.get(regionKey(gmap, region, epoch));
      this.exact = value && RegionEntry.of(value);
      this.older = undefined;
    }
    if (this.exact?.has(i)) return this.version(gmap, epoch, this.exact, i, at);
    if (epoch === 0) return undefined;
    this.older ??= this.storage
      .range(regionPrefix(gmap, region), regionKey(gmap, region, epoch))
      .map(([key, value]) => ({ epoch: parseRegionKey(key).epoch, entry: RegionEntry.of(value) }))
      .reverse();
    for (const older of this.older) if (older.entry.has(i)) return this.version(gmap, older.epoch, older.entry, i, at);
    return undefined;
  }

  private version(gmap: number, epoch: number, entry: RegionEntry, i: number, at: number): Found | Hole {
    const state = entry.state(i);
    const stamp = entry.stamp(i)!;
    if (state === 'hole') return { hole: true, gmap, epoch, stamp };
    return {
      at,
      gmap,
      epoch,
      slot: state === 'data' ? entry.slot(i) : undefined,
      crc: state === 'data' ? entry.crc(i) : 0,
      stamp,
    };
  }
}
