import { floorOf, rangeOf } from '../actors/sorted-map-storage.js';
import type { CellStorage } from '../actors/cell.js';
import { slotBytes, type SlotFile } from '../actors/slot-file.js';
import type { Prng } from '../prng.js';
import type { Scheduler } from './scheduler.js';

export interface StorageFaults {
  readonly latencyMsMax: number;
  /** Chance that a flush fails (its writes stay unflushed). */
  readonly flushErrorRate: number;
  /**
   * On a crash, unflushed key writes survive as a prefix: each, in order, is kept with this chance
   * until one is not. Each unflushed slot write survives with this chance on its own.
   */
  readonly keepUnflushedRate: number;
  /** The chance that a slot write that survived a crash is torn. */
  readonly tearRate: number;
}

type Write = { readonly key: string; readonly value: Uint8Array | undefined };
type SlotWrite = { readonly slot: number; readonly value: Uint8Array };
type PendingFlush = {
  readonly token: number;
  readonly writes: Write[];
  readonly slotWrites: SlotWrite[];
  done: boolean;
};

/**
 * An actor's storage under the simulator: reads see every write at once, but only flushed writes
 * are sure to survive a crash. Of the unflushed key writes a prefix survives, whole (LMDB commits
 * in order, and a commit's pages become reachable only through its meta page, written after
 * them: LMDB never tears a value); of the unflushed slot writes (page cache write-back) each
 * survives or not on its own, and any survivor may be torn.
 */
export class SimStorage implements CellStorage {
  private durable = new Map<string, Uint8Array>();
  private visible = new Map<string, Uint8Array>();
  private unflushed: Write[] = [];
  private durableSlots = new Map<number, Uint8Array>();
  private visibleSlots = new Map<number, Uint8Array>();
  private unflushedSlots: SlotWrite[] = [];
  private nextToken = 1;
  private pendingFlushes: PendingFlush[] = [];
  private lastFlushAtMs = 0;
  private generation = 0;
  private flushed: (token: number, ok: boolean) => void = () => undefined;
  faults: StorageFaults;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly prng: Prng,
    faults: StorageFaults,
  ) {
    this.faults = faults;
  }

  readonly blocks: SlotFile = {
    read: (slot, into) => {
      for (let i = 0; i * slotBytes < into.length; i++) {
        const at = into.subarray(i * slotBytes, (i + 1) * slotBytes);
        const stored = this.visibleSlots.get(slot + i);
        if (stored) at.set(stored);
        else at.fill(0);
      }
    },
    write: (slot, data) => {
      for (let i = 0; i * slotBytes < data.length; i++) {
        const value = new Uint8Array(data.subarray(i * slotBytes, (i + 1) * slotBytes));
        this.visibleSlots.set(slot + i, value);
        this.unflushedSlots.push({ slot: slot + i, value });
      }
    },
  };

  get(key: string): Uint8Array | undefined {
    return this.visible.get(key);
  }

  put(key: string, value: Uint8Array): void {
    this.visible.set(key, value);
    this.unflushed.push({ key, value });
  }

  delete(key: string): void {
    this.visible.delete(key);
    this.unflushed.push({ key, value: undefined });
  }

  range(from: string, to: string, limit?: number): Array<[string, Uint8Array]> {
    return rangeOf(this.visible, from, to, limit);
  }

  keys(from: string, to: string, limit?: number): string[] {
    return rangeOf(this.visible, from, to, limit).map(([key]) => key);
  }

  count(from: string, to: string): number {
    return rangeOf(this.visible, from, to).length;
  }

  floor(atMost: string, above: string): [string, Uint8Array] | undefined {
    return floorOf(this.visible, atMost, above);
  }

  /**
   * Flushes complete in the order they were asked for, as fsync does: a flush's success covers
   * every write before it. An error is sticky for what it covered: it fails this flush and every
   * later one still pending, and their writes stay unflushed.
   */
  flush(keysOnly = false): number {
    const entry: PendingFlush = {
      token: this.nextToken++,
      writes: this.unflushed,
      slotWrites: keysOnly ? [] : this.unflushedSlots,
      done: false,
    };
    this.unflushed = [];
    if (!keysOnly) this.unflushedSlots = [];
    this.pendingFlushes.push(entry);
    const generation = this.generation;
    const atMs = Math.max(this.scheduler.nowMs + this.prng.next() * this.faults.latencyMsMax, this.lastFlushAtMs);
    this.lastFlushAtMs = atMs;
    this.scheduler.atTime(atMs, () => {
      if (generation !== this.generation || entry.done) return;
      if (this.prng.chance(this.faults.flushErrorRate)) {
        const failed = this.pendingFlushes.splice(this.pendingFlushes.indexOf(entry));
        this.unflushed = [...failed.flatMap((flush) => flush.writes), ...this.unflushed];
        this.unflushedSlots = [...failed.flatMap((flush) => flush.slotWrites), ...this.unflushedSlots];
        for (const flush of failed) {
          flush.done = true;
          this.flushed(flush.token, false);
        }
        return;
      }
      const head = this.pendingFlushes.shift();
      if (head !== entry) throw new Error('simulated flushes completed out of order');
      entry.done = true;
      for (const write of entry.writes) apply(this.durable, write);
      for (const write of entry.slotWrites) this.durableSlots.set(write.slot, write.value);
      this.flushed(entry.token, true);
    });
    return entry.token;
  }

  onFlushed(callback: (token: number, ok: boolean) => void): void {
    this.flushed = callback;
  }

  crash(): void {
    this.generation += 1;
    // Writes a pending flush had not yet made durable are as unflushed as the rest.
    const unflushed = [...this.pendingFlushes.flatMap((flush) => flush.writes), ...this.unflushed];
    const unflushedSlots = [...this.pendingFlushes.flatMap((flush) => flush.slotWrites), ...this.unflushedSlots];
    this.pendingFlushes = [];
    this.lastFlushAtMs = 0;
    // LMDB commits in the order writes were made: what survives is a prefix of them.
    let kept = 0;
    while (kept < unflushed.length && this.prng.chance(this.faults.keepUnflushedRate)) kept += 1;
    for (const write of unflushed.slice(0, kept)) apply(this.durable, write);
    this.unflushed = [];
    for (const write of unflushedSlots) {
      if (!this.prng.chance(this.faults.keepUnflushedRate)) continue;
      const torn = this.prng.chance(this.faults.tearRate);
      this.durableSlots.set(
        write.slot,
        torn ? tearSlot(write.value, this.durableSlots.get(write.slot), this.prng) : write.value,
      );
    }
    this.unflushedSlots = [];
    this.visible = new Map(this.durable);
    this.visibleSlots = new Map(this.durableSlots);
  }
}

function apply(map: Map<string, Uint8Array>, write: Write): void {
  if (write.value) map.set(write.key, write.value);
  else map.delete(write.key);
}

/** A slot written only in part: its first bytes new, the rest what the slot held before (or zeros). */
function tearSlot(value: Uint8Array, before: Uint8Array | undefined, prng: Prng): Uint8Array {
  const torn = before ? Uint8Array.from(before) : new Uint8Array(slotBytes);
  torn.set(value.subarray(0, prng.int(slotBytes)));
  return torn;
}
