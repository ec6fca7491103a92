import { floorOf, rangeOf } from '../actors/sorted-map-storage.js';
import type { CellStorage } from '../actors/cell.js';
import type { Prng } from './prng.js';
import type { Scheduler } from './scheduler.js';

export interface StorageFaults {
  readonly latencyMsMax: number;
  /** Chance that a flush fails (its writes stay unflushed). */
  readonly flushErrorRate: number;
  /** On a crash, chance that each unflushed write is kept, and that a kept one is torn. */
  readonly keepUnflushedRate: number;
  readonly tearRate: number;
}

type Write = { readonly key: string; readonly value: Uint8Array | undefined };

/**
 * An actor's storage under the simulator: reads see every write at once, but only flushed writes
 * are sure to survive a crash; unflushed ones may vanish, survive, or survive torn.
 */
export class SimStorage implements CellStorage {
  private durable = new Map<string, Uint8Array>();
  private visible = new Map<string, Uint8Array>();
  private unflushed: Write[] = [];
  private nextToken = 1;
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

  flush(): number {
    const token = this.nextToken++;
    const writes = this.unflushed;
    this.unflushed = [];
    const generation = this.generation;
    this.scheduler.at(this.prng.next() * this.faults.latencyMsMax, () => {
      if (generation !== this.generation) return;
      if (this.prng.chance(this.faults.flushErrorRate)) {
        this.unflushed = [...writes, ...this.unflushed];
        return this.flushed(token, false);
      }
      for (const write of writes) apply(this.durable, write);
      this.flushed(token, true);
    });
    return token;
  }

  onFlushed(callback: (token: number, ok: boolean) => void): void {
    this.flushed = callback;
  }

  crash(): void {
    this.generation += 1;
    for (const write of this.unflushed) {
      if (!this.prng.chance(this.faults.keepUnflushedRate)) continue;
      apply(this.durable, write.value && this.prng.chance(this.faults.tearRate) ? { key: write.key, value: tear(write.value, this.prng) } : write);
    }
    this.unflushed = [];
    this.visible = new Map(this.durable);
  }
}

function apply(map: Map<string, Uint8Array>, write: Write): void {
  if (write.value) map.set(write.key, write.value);
  else map.delete(write.key);
}

function tear(value: Uint8Array, prng: Prng): Uint8Array {
  const torn = Uint8Array.from(value);
  const from = prng.int(torn.length);
  for (let i = from; i < torn.length; i++) torn[i] = prng.int(256);
  return torn.subarray(0, Math.max(1, from + prng.int(torn.length - from + 1)));
}
