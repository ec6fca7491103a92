import { regionsOf } from './layout.js';
import { regionKey } from '../groups/region-locks.js';
import { blockBytes } from '../storage/block-keys.js';

/**
 * Copies that do not yet hold writes already answered (async duplication of mirror disks): a read
 * keeps off a lagging copy of a region until its mirror group says the copy caught up. Counted per
 * region and server, so that a `caught-up` overtaking its write's answer still balances.
 */
export class Lag {
  private readonly behind = new Map<string, Map<number, number>>();
  private readonly bytes_ = new Map<number, number>();

  /** Bytes answered and not yet on both copies, per gmap. */
  bytes(gmap: number): number {
    return this.bytes_.get(gmap) ?? 0;
  }

  add(gmap: number, block: number, count: number, server: number, delta = 1): void {
    this.bytes_.set(gmap, (this.bytes_.get(gmap) ?? 0) + delta * count * blockBytes);
    if (this.bytes_.get(gmap) === 0) this.bytes_.delete(gmap);
    for (const region of regionsOf(block, count)) {
      const key = regionKey(gmap, region);
      const servers = this.behind.get(key) ?? new Map<number, number>();
      const left = (servers.get(server) ?? 0) + delta;
      if (left === 0) servers.delete(server);
      else servers.set(server, left);
      if (servers.size === 0) this.behind.delete(key);
      else this.behind.set(key, servers);
    }
  }

  caughtUp(gmap: number, block: number, count: number, server: number): void {
    this.add(gmap, block, count, server, -1);
  }

  /** Whether `server`'s copy of blocks [block, block + count) of `gmap` may lack an answered write. */
  lagging(gmap: number, block: number, count: number, server: number): boolean {
    if (this.behind.size === 0) return false;
    return regionsOf(block, count).some((region) => (this.behind.get(regionKey(gmap, region))?.get(server) ?? 0) > 0);
  }
}
