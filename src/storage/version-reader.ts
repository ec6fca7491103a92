import { blocksPerRegion } from './block-keys.js';

/**
 * Where a version reader finds a global map's region entries at each epoch, as some form `T` of
 * them: decoded entries over an actor's storage (region-versions.ts), or stored values read
 * straight from LMDB (direct-reads.ts).
 */
export interface RegionValues<T> {
  /** The region's entry at exactly `epoch`, if stored. */
  at(gmap: number, region: number, epoch: number): T | undefined;
  /** The region's entries below `epoch`, newest first; undefined when they cannot be read now. */
  below(gmap: number, region: number, epoch: number): Array<StoredAt<T>> | undefined;
  /** Whether block i holds anything (data, a hole, lost) in an entry. */
  holds(value: T, i: number): boolean;
  /** An entry `at` answered, made to outlive the next read (lmdb-js reuses its read buffer). */
  keep(value: T): T;
}

/** A region entry and the epoch it is stored at. */
export interface StoredAt<T> {
  readonly epoch: number;
  readonly value: T;
}

/**
 * Which version of a block a read at an epoch sees, the one rule both read paths go by: the
 * newest region entry at or below the read's epoch that holds anything for the block (data, a
 * hole, a lost block); none, where no entry does (zeros, or a clone's base layer). A read keeps
 * one reader per global map it looks in: the entry at its epoch is fetched once per region, and
 * the older ones only when a block has nothing at that epoch.
 */
export class VersionReader<T> {
  private gmap = -1;
  private region = -1;
  private epoch = -1;
  private exact: StoredAt<T> | undefined;
  private older: Array<StoredAt<T>> | undefined;

  constructor(private readonly values: RegionValues<T>) {}

  /**
   * The entry whose version of `block` a read of `gmap` at `epoch` sees, with its epoch; null
   * where none holds the block; undefined when older entries were needed and could not be read.
   */
  find(gmap: number, epoch: number, block: number): StoredAt<T> | null | undefined {
    const region = Math.floor(block / blocksPerRegion);
    const i = block % blocksPerRegion;
    if (region !== this.region || gmap !== this.gmap || epoch !== this.epoch) {
      this.gmap = gmap;
      this.region = region;
      this.epoch = epoch;
      const value = this.values.at(gmap, region, epoch);
      this.exact = value === undefined ? undefined : { epoch, value };
      this.older = undefined;
    }
    if (this.exact && this.values.holds(this.exact.value, i)) return this.exact;
    if (epoch === 0) return null;
    if (!this.older) {
      if (this.exact) this.exact = { epoch, value: this.values.keep(this.exact.value) };
      this.older = this.values.below(gmap, region, epoch);
      if (!this.older) return undefined;
    }
    for (const older of this.older) if (this.values.holds(older.value, i)) return older;
    return null;
  }
}
