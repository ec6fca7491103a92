import { regionsOf } from '../model/layout.js';
import { regionKey } from '../model/region-key.js';
import { blockBytes } from '../storage/block-keys.js';

/** `caught-up` tells remembered ahead of their write's answer (the answer may be lost: bounded). */
const earlyCaughtUpMax = 4096;

/** One write answered while a copy was still being written: what the copy lacks. */
export interface Lagging {
  /** The mirror group, its incarnation and its sequence number of the write: its identity. */
  readonly group: string;
  readonly incarnation: number;
  readonly seq: number;
  readonly gmap: number;
  readonly block: number;
  readonly count: number;
  readonly server: number;
}

/**
 * Copies that do not yet hold writes already answered (async duplication of mirror disks): a read
 * keeps off a lagging copy of a region until its mirror group says the copy caught up. Entries
 * are kept by write, so a `caught-up` that overtakes its write's answer, or whose write's answer
 * was lost, cannot cancel another write's entry. One whose `caught-up` is overdue (`overdue`) is
 * asked about: the tell may have been lost.
 */
export class Lag {
  private readonly writes = new Map<string, Lagging & { askedMs: number }>();
  /** Per region key, per server: writes lagging there. */
  private readonly behind = new Map<string, Map<number, number>>();
  private readonly bytes_ = new Map<number, number>();
  private readonly answered = new Map<number, number>();
  private readonly caughtUpFirst = new Set<string>();

  /** Bytes answered and not yet on both copies, per gmap. */
  bytes(gmap: number): number {
    return this.bytes_.get(gmap) ?? 0;
  }

  /** Writes of `gmap` answered with one copy still being written, since the router started. */
  answeredEarly(gmap: number): number {
    return this.answered.get(gmap) ?? 0;
  }

  /** A write was answered, at `nowMs`, with `server`'s copy still being written. */
  add(write: Lagging, nowMs: number): void {
    this.answered.set(write.gmap, this.answeredEarly(write.gmap) + 1);
    const id = idOf(write.group, write.incarnation, write.seq);
    if (this.caughtUpFirst.delete(id)) return;
    this.writes.set(id, { ...write, askedMs: nowMs });
    this.count(write, 1);
  }

  /**
   * The writes whose `caught-up` has not come `afterMs` after they were answered or last asked
   * about; each counts as asked about at `nowMs`.
   */
  overdue(nowMs: number, afterMs: number): Lagging[] {
    const due: Lagging[] = [];
    for (const write of this.writes.values()) {
      if (nowMs - write.askedMs < afterMs) continue;
      write.askedMs = nowMs;
      due.push(write);
    }
    return due;
  }

  /** Its mirror group says the write is on the lagging copy, or will not be (marked stale). */
  caughtUp(group: string, incarnation: number, seq: number): void {
    const id = idOf(group, incarnation, seq);
    const write = this.writes.get(id);
    if (!write) {
      if (this.caughtUpFirst.size >= earlyCaughtUpMax)
        this.caughtUpFirst.delete(this.caughtUpFirst.values().next().value!);
      this.caughtUpFirst.add(id);
      return;
    }
    this.writes.delete(id);
    this.count(write, -1);
  }

  /** Whether `server`'s copy of blocks [block, block + count) of `gmap` may lack an answered write. */
  lagging(gmap: number, block: number, count: number, server: number): boolean {
    if (this.behind.size === 0) return false;
    return regionsOf(block, count).some((region) => (this.behind.get(regionKey(gmap, region))?.get(server) ?? 0) > 0);
  }

  private count(write: Lagging, delta: 1 | -1): void {
    const bytes = (this.bytes_.get(write.gmap) ?? 0) + delta * write.count * blockBytes;
    if (bytes === 0) this.bytes_.delete(write.gmap);
    else this.bytes_.set(write.gmap, bytes);
    for (const region of regionsOf(write.block, write.count)) {
      const key = regionKey(write.gmap, region);
      const servers = this.behind.get(key) ?? new Map<number, number>();
      const left = (servers.get(write.server) ?? 0) + delta;
      if (left === 0) servers.delete(write.server);
      else servers.set(write.server, left);
      if (servers.size === 0) this.behind.delete(key);
      else this.behind.set(key, servers);
    }
  }
}

function idOf(group: string, incarnation: number, seq: number): string {
  return `${group}@${incarnation}#${seq}`;
}
