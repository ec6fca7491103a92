import type { ActorStorage } from '../actors/actor.js';
import { markKey, markRange, parseMarkKey, type MarkKind } from './block-keys.js';
import { RegionSet } from './region-set.js';

/**
 * Busy bits and stale marks of one disk, per 64 KiB region, kept in storage and mirrored in
 * memory. Petal sets busy bits on stable storage before a write (so `set` returns the regions that
 * need a flush, and a region already durable costs nothing) and clears them lazily (a clear is a
 * delete that reaches disk with whatever flush comes next).
 */
export class Marks {
  /** Regions set, by kind (the scope); `durable` holds those known to be on stable storage. */
  private readonly present = new RegionSet();
  private readonly durable = new RegionSet();

  constructor(private readonly storage: ActorStorage) {
    for (const kind of ['busy', 'stale'] as const) {
      for (const key of storage.keys(...markRange(kind))) {
        const { gmap, region } = parseMarkKey(key);
        this.present.add(kind, gmap, region);
        this.durable.add(kind, gmap, region);
      }
    }
  }

  /** Sets the marks; returns the regions that are not yet known durable (they need a flush). */
  set(kind: MarkKind, gmap: number, regions: readonly number[]): number[] {
    const added: number[] = [];
    for (const region of regions) {
      if (this.durable.has(kind, gmap, region)) continue;
      if (!this.present.has(kind, gmap, region)) this.storage.put(markKey(kind, gmap, region), new Uint8Array(0));
      this.present.add(kind, gmap, region);
      added.push(region);
    }
    return added;
  }

  /** The flush that followed `set` completed: these regions are durable unless cleared since. */
  settle(kind: MarkKind, gmap: number, regions: readonly number[]): void {
    for (const region of regions) if (this.present.has(kind, gmap, region)) this.durable.add(kind, gmap, region);
  }

  clear(kind: MarkKind, gmap: number, regions: readonly number[]): void {
    for (const region of regions) {
      if (!this.present.delete(kind, gmap, region)) continue;
      this.durable.delete(kind, gmap, region);
      this.storage.delete(markKey(kind, gmap, region));
    }
  }

  list(kind: MarkKind): Array<{ gmap: number; region: number }> {
    return this.present.list(kind);
  }
}
