import type { ActorStorage } from '../actors/actor.js';
import { markKey, markRange, parseMarkKey, type MarkKind } from './block-keys.js';

/**
 * Busy bits and stale marks of one disk, per 64 KiB region, kept in storage and mirrored in
 * memory. Petal sets busy bits on stable storage before a write (so `set` returns the regions that
 * need a flush, and a region already durable costs nothing) and clears them lazily (a clear is a
 * delete that reaches disk with whatever flush comes next).
 */
export class Marks {
  /** Regions set, by kind; `durable` holds those known to be on stable storage. */
  private readonly present = { busy: new Set<string>(), stale: new Set<string>() };
  private readonly durable = { busy: new Set<string>(), stale: new Set<string>() };

  constructor(private readonly storage: ActorStorage) {
    for (const kind of ['busy', 'stale'] as const) {
      for (const key of storage.keys(...markRange(kind))) {
        this.present[kind].add(key);
        this.durable[kind].add(key);
      }
    }
  }

  /** Sets the marks; returns the keys that are not yet known durable (they need a flush). */
  set(kind: MarkKind, gmap: number, regions: readonly number[]): string[] {
    const added: string[] = [];
    for (const region of regions) {
      const key = markKey(kind, gmap, region);
      if (this.durable[kind].has(key)) continue;
      if (!this.present[kind].has(key)) this.storage.put(key, new Uint8Array(0));
      this.present[kind].add(key);
      added.push(key);
    }
    return added;
  }

  /** The flush that followed `set` completed: these keys are durable unless cleared since. */
  settle(kind: MarkKind, keys: readonly string[]): void {
    for (const key of keys) if (this.present[kind].has(key)) this.durable[kind].add(key);
  }

  clear(kind: MarkKind, gmap: number, regions: readonly number[]): void {
    for (const region of regions) {
      const key = markKey(kind, gmap, region);
      if (!this.present[kind].delete(key)) continue;
      this.durable[kind].delete(key);
      this.storage.delete(key);
    }
  }

  list(kind: MarkKind): Array<{ gmap: number; region: number }> {
    return [...this.present[kind]].sort().map(parseMarkKey);
  }
}
