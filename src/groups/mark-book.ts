import type { MarkKind } from '../storage/block-keys.js';
import type { DiskReply } from '../storage/disk-protocol.js';
import { RegionSet } from '../storage/region-set.js';
import type { Asker } from './asker.js';
import { Counts } from './counts.js';

/** A region of a global map on one copy. */
export interface MarkedRegion {
  readonly server: number;
  readonly gmap: number;
  readonly region: number;
}

/** A clear on its way, and what waits for it to be answered. */
interface Clearing {
  count: number;
  waiters: Array<() => void>;
}

/**
 * A replica group's book of the busy bits and stale marks on its copies' disks (Petal §2.4): which
 * are known durable, which went with a write to a copy written alone, which are being set or
 * cleared, and which may be on a disk after a set or clear that failed. It sends the marks' sets
 * and clears, and answers whether a copy holds, or may hold, a stale mark for a region.
 *
 *   | record       | a mark ...                                                             |
 *   |--------------|------------------------------------------------------------------------|
 *   | durable      | known on stable storage (its set was answered)                          |
 *   | withWrites   | put by a lone write (`carryWithWrite`): durable with its data, not known |
 *   |              | durable, so it never spares a later write its marks                    |
 *   | intents      | stale, being set (two writes that each lost a different copy would    |
 *   |              | otherwise each see no stale mark on the other and both be answered)    |
 *   | clearing     | whose clear is on its way: a set sent now waits for it, since it could |
 *   |              | arrive after the set and wipe it (messages may be reordered)           |
 *   | doubtful     | whose set or clear failed: it may be on the disk; recovery settles it   |
 */
export class MarkBook {
  private readonly durable = new RegionSet();
  private readonly withWrites = new RegionSet();
  private readonly clearing = new Map<string, Clearing>();
  private readonly intents = new Counts<string>();
  private readonly doubtful = new Set<string>();

  constructor(
    private readonly asker: Asker,
    /** Called when stale marks are about to change (recovery replans on it). */
    private readonly onStaleChange: () => void,
  ) {}

  /** The regions whose mark is not known durable on `server`. */
  notDurable(server: number, kind: MarkKind, gmap: number, regions: readonly number[]): number[] {
    return regions.filter((region) => !this.durable.has(scope(server, kind), gmap, region));
  }

  /**
   * Whether `server` holds, or may hold, a stale mark for the region: a mark counts from when its
   * set is sent until its clear is answered (clears of stale marks are durable).
   */
  markedStale(server: number, gmap: number, region: number): boolean {
    const id = markId(server, 'stale', gmap, region);
    return (
      this.durable.has(scope(server, 'stale'), gmap, region) ||
      this.withWrites.has(scope(server, 'stale'), gmap, region) ||
      this.intents.has(id) ||
      this.clearing.has(id) ||
      this.doubtful.has(id)
    );
  }

  /** Every stale mark `servers` hold or may hold, as recovery plans from them. */
  knownStale(servers: readonly number[]): MarkedRegion[] {
    return [
      ...servers.flatMap((server) =>
        [...this.durable.list(scope(server, 'stale')), ...this.withWrites.list(scope(server, 'stale'))].map(
          ({ gmap, region }) => ({ server, gmap, region }),
        ),
      ),
      ...[...this.intents.keys(), ...this.doubtful].flatMap((id) => {
        const [server, kind, gmap, region] = id.split(':');
        return kind === 'stale' ? [{ server: Number(server), gmap: Number(gmap), region: Number(region) }] : [];
      }),
    ];
  }

  /**
   * Runs `then` once no clear of these marks is on its way (at once when none is); returns whether
   * it had to wait.
   */
  afterClears(server: number, kind: MarkKind, gmap: number, regions: readonly number[], then: () => void): boolean {
    const pending = regions
      .map((region) => this.clearing.get(markId(server, kind, gmap, region)))
      .find((entry) => entry !== undefined);
    if (!pending) return false;
    pending.waiters.push(then);
    return true;
  }

  /** Sets the marks, counting stale ones as being set until the answer. */
  ensure(
    server: number,
    kind: MarkKind,
    gmap: number,
    regions: readonly number[],
    then: (ok: boolean, reply: DiskReply) => void,
  ): void {
    const intents =
      kind === 'stale'
        ? this.notDurable(server, kind, gmap, regions).map((region) => markId(server, kind, gmap, region))
        : [];
    this.intents.add(intents);
    this.set(server, kind, gmap, regions, (ok, reply) => {
      this.intents.remove(intents);
      then(ok, reply);
    });
  }

  /** Sets on `server`'s disk, durably, the marks not known durable there. */
  private set(
    server: number,
    kind: MarkKind,
    gmap: number,
    regions: readonly number[],
    then: (ok: boolean, reply: DiskReply) => void,
  ): void {
    const missing = this.notDurable(server, kind, gmap, regions);
    if (missing.length === 0) return then(true, { ok: true });
    if (this.afterClears(server, kind, gmap, missing, () => this.set(server, kind, gmap, regions, then))) return;
    if (kind === 'stale') this.onStaleChange();
    this.asker.ask(server, { op: 'setMarks', kind, gmap, regions: missing }, (reply) => {
      for (const region of missing) {
        if (reply.ok) {
          this.durable.add(scope(server, kind), gmap, region);
          this.doubtful.delete(markId(server, kind, gmap, region));
        } else if (kind === 'stale') {
          // The disk may have put the mark and failed its flush: it may be there, now or after a
          // restart (sim --whole-threads seed 650: a lone write then went to the partner, both
          // copies were stale, and recovery copied the older one over a write a reader had seen).
          this.doubtful.add(markId(server, kind, gmap, region));
        }
      }
      then(reply.ok, reply);
    });
  }

  /** Clears the marks on `server`'s disk; they count as set until the clear is answered. */
  clear(server: number, kind: MarkKind, gmap: number, regions: readonly number[], then?: () => void): void {
    const keys = regions.map((region) => markId(server, kind, gmap, region));
    for (const region of regions) {
      this.durable.delete(scope(server, kind), gmap, region);
      this.withWrites.delete(scope(server, kind), gmap, region);
    }
    for (const key of keys) {
      const entry = this.clearing.get(key) ?? { count: 0, waiters: [] };
      entry.count += 1;
      this.clearing.set(key, entry);
    }
    this.asker.ask(server, { op: 'clearMarks', kind, gmap, regions }, (reply) => {
      for (const key of keys) {
        if (reply.ok) this.doubtful.delete(key);
        else this.doubtful.add(key);
        const entry = this.clearing.get(key)!;
        if (--entry.count > 0) continue;
        this.clearing.delete(key);
        for (const waiter of entry.waiters) waiter();
      }
      then?.();
    });
  }

  /**
   * Stale marks `stale` go to `server` inside a write to it alone: they count as being set until
   * the write is answered (call the returned function with whether it was), and as put with the
   * write after a successful answer.
   */
  carryWithWrite(server: number, gmap: number, stale: readonly number[]): (ok: boolean) => void {
    const ids = stale.map((region) => markId(server, 'stale', gmap, region));
    this.intents.add(ids);
    // Recovery replans when marks change; a region already marked with a write is carried again, not new.
    if (stale.some((region) => !this.withWrites.has(scope(server, 'stale'), gmap, region))) this.onStaleChange();
    return (ok) => {
      if (ok) for (const region of stale) this.withWrites.add(scope(server, 'stale'), gmap, region);
      this.intents.remove(ids);
    };
  }
}

function scope(server: number, kind: MarkKind): string {
  return `${server}:${kind}`;
}

function markId(server: number, kind: MarkKind, gmap: number, region: number): string {
  return `${server}:${kind}:${gmap}:${region}`;
}
