import type { ActorStorage } from '../actors/actor.js';
import { blocksPerRegion, parseRegionKey, regionKey, regionPrefix } from './block-keys.js';
import { RegionEntry } from './region-entry.js';
import type { Stamp } from './stamps.js';
import { VersionReader, type RegionValues } from './version-reader.js';

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
 * One read's view of the versions of the regions it crosses in one global map, on the disk
 * actor's path: the stored entries decoded, and which one a block's version comes from chosen by
 * the version reader that direct reads share (version-reader.ts).
 */
export class RegionVersions {
  private readonly reader: VersionReader<RegionEntry>;

  constructor(storage: ActorStorage) {
    this.reader = new VersionReader(entriesOf(storage));
  }

  /** What `gmap` shows of `block` at `epoch`: its data (slot undefined if lost), a hole, or nothing. */
  find(gmap: number, epoch: number, block: number, at: number): Found | Hole | undefined {
    const found = this.reader.find(gmap, epoch, block);
    if (!found) return undefined;
    const entry = found.value;
    const i = block % blocksPerRegion;
    const state = entry.state(i);
    const stamp = entry.stamp(i)!;
    if (state === 'hole') return { hole: true, gmap, epoch: found.epoch, stamp };
    return {
      at,
      gmap,
      epoch: found.epoch,
      slot: state === 'data' ? entry.slot(i) : undefined,
      crc: state === 'data' ? entry.crc(i) : 0,
      stamp,
    };
  }
}

/** An actor storage's region entries, decoded (a decoded entry is a copy: it outlives later reads). */
function entriesOf(storage: ActorStorage): RegionValues<RegionEntry> {
  return {
    at: (gmap, region, epoch) => {
      const value = storage.get(regionKey(gmap, region, epoch));
      return value && RegionEntry.of(value);
    },
    below: (gmap, region, epoch) =>
      storage
        .range(regionPrefix(gmap, region), regionKey(gmap, region, epoch))
        .map(([key, value]) => ({ epoch: parseRegionKey(key).epoch, value: RegionEntry.of(value) }))
        .reverse(),
    holds: (entry, i) => entry.has(i),
    keep: (entry) => entry,
  };
}
