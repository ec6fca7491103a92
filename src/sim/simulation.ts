import { createHash, type Hash } from 'node:crypto';
import type { Behavior } from '../actors/actor.js';
import { addressKey, type Address } from '../actors/address.js';
import { ActorCell, type CellHost } from '../actors/cell.js';
import type { Envelope } from '../actors/envelope.js';
import { BufferPool, type BufferHandle } from '../actors/buffer-pool.js';
import { Prng } from '../prng.js';
import { Scheduler } from './scheduler.js';
import { SimStorage, type StorageFaults } from './sim-storage.js';

export interface NetworkFaults {
  readonly lossRate: number;
  readonly duplicateRate: number;
  /** Each message takes 1 ms plus up to this much; unequal delays reorder messages. */
  readonly delayMsMax: number;
}

export const calmNetwork: NetworkFaults = { lossRate: 0, duplicateRate: 0, delayMsMax: 1 };
export const calmStorage: StorageFaults = { latencyMsMax: 1, flushErrorRate: 0, keepUnflushedRate: 0, tearRate: 0 };

/**
 * The deterministic actor harness: the same actor code as production, on one thread, with an
 * in-memory network, a virtual clock and simulated storage, every choice drawn from one seeded
 * PRNG. Faults are injected between deliveries; the trace hash fingerprints the whole run.
 */
let traceOut: ((line: string) => void) | undefined;

/** Every trace line of every later run also goes here (`npm run sim -- --seed S --trace`). */
export function traceSimulationsTo(out: ((line: string) => void) | undefined): void {
  traceOut = out;
}

export class Simulation implements CellHost {
  readonly scheduler = new Scheduler();
  readonly prng: Prng;
  network: NetworkFaults = calmNetwork;
  /** Messages a test loses on purpose, besides those `network` loses at random. */
  lose: ((envelope: Envelope) => boolean) | undefined;
  private readonly cells = new Map<string, ActorCell>();
  private readonly storages = new Map<string, SimStorage>();
  private readonly down = new Set<string>();
  /** Actors cut off from everyone not in the same set. */
  private partition: Set<string> | undefined;
  private readonly trace: Hash = createHash('sha256');
  /** Payload buffers of simulated actors (one thread, so an ordinary pool). */
  readonly pool = new BufferPool({ maxBytes: 64 * 1024 * 1024 });
  delivered = 0;
  /** Actors whose code awaits promises (the router, the workload that calls it). */
  private readonly awaiting = new Set<string>();
  /** One of them ran since the microtasks last ran out. */
  private microtasksDue = false;

  constructor(readonly seed: number) {
    this.prng = new Prng(seed);
  }

  /**
   * With `awaits`, the actor's code goes on in promises after its turn (the router's does): run
   * the simulation with `runUntil` here, which lets those run out after each of its turns.
   */
  spawn(self: Address, behavior: Behavior, storageFaults: StorageFaults = calmStorage, awaits = false): ActorCell {
    if (awaits) this.awaiting.add(addressKey(self));
    const storage = new SimStorage(this.scheduler, this.prng, storageFaults);
    const cell = new ActorCell(self, behavior, storage, this);
    this.cells.set(addressKey(self), cell);
    this.storages.set(addressKey(self), storage);
    return cell;
  }

  setStorageFaults(faults: StorageFaults): void {
    for (const storage of this.storages.values()) storage.faults = faults;
  }

  /** Kills an actor's process: unflushed writes may be lost or torn; it stays down until restarted. */
  kill(target: Address): void {
    const key = addressKey(target);
    if (this.down.has(key)) return;
    this.down.add(key);
    this.record(`kill ${key}`);
    this.cells.get(key)!.restart(true);
  }

  revive(target: Address): void {
    if (this.down.delete(addressKey(target))) this.record(`revive ${addressKey(target)}`);
  }

  partitionOff(group: Address[]): void {
    this.partition = new Set(group.map(addressKey));
    this.record(`partition ${[...this.partition].join(',')}`);
  }

  heal(): void {
    this.partition = undefined;
    this.network = calmNetwork;
    this.setStorageFaults(calmStorage);
    for (const key of [...this.down]) this.down.delete(key);
    this.record('heal');
  }

  /** The scheduler's `runUntil`, letting the promises of actors that await run out after each turn of theirs. */
  runUntil(untilMs: number, stop: () => boolean): Promise<boolean> {
    return this.scheduler.runUntilSettled(untilMs, stop, () => {
      if (!this.microtasksDue) return undefined;
      this.microtasksDue = false;
      return new Promise((resolve) => setImmediate(resolve));
    });
  }

  traceHash(): string {
    return this.trace.copy().digest('hex').slice(0, 16);
  }

  // CellHost
  now(): number {
    return this.scheduler.nowMs;
  }

  /** A fixed start, so that timestamps in messages replay exactly. */
  wallClockMs(): number {
    return Date.UTC(2026, 0, 1) + this.scheduler.nowMs;
  }

  random(): number {
    return this.prng.next();
  }

  route(envelope: Envelope): void {
    const from = addressKey(envelope.from);
    const to = addressKey(envelope.to);
    if (this.cut(from, to) || this.lose?.(envelope) || this.prng.chance(this.network.lossRate)) return;
    const copies = this.prng.chance(this.network.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.scheduler.at(1 + this.prng.next() * this.network.delayMsMax, () => this.arrive(envelope));
    }
  }

  schedule(cell: ActorCell): void {
    this.scheduler.at(0, () => {
      const key = addressKey(cell.self);
      if (this.down.has(key)) return this.scheduler.at(5, () => this.schedule(cell));
      if (this.awaiting.has(key)) this.microtasksDue = true;
      if (cell.runOne()) this.schedule(cell);
    });
  }

  startTimer(delayMs: number, fire: () => void): unknown {
    return this.scheduler.at(delayMs, fire);
  }

  cancelTimer(handle: unknown): void {
    this.scheduler.cancel(handle);
  }

  log(cell: ActorCell, event: string): void {
    this.record(`${addressKey(cell.self)}@${cell.incarnation} ${event}`);
  }

  releaseHandle(handle: BufferHandle): void {
    this.pool.release(handle);
  }

  viewHandle(handle: BufferHandle): Buffer {
    return this.pool.view(handle);
  }

  private arrive(envelope: Envelope): void {
    const to = addressKey(envelope.to);
    const cell = this.cells.get(to);
    if (!cell || this.down.has(to) || this.cut(addressKey(envelope.from), to)) return;
    this.delivered += 1;
    this.record(
      `${this.scheduler.nowMs.toFixed(3)} ${envelope.kind} ${addressKey(envelope.from)}>${to} ${JSON.stringify(envelope)}`,
    );
    cell.deliver(envelope);
  }

  private cut(from: string, to: string): boolean {
    return this.partition !== undefined && this.partition.has(from) !== this.partition.has(to);
  }

  private record(line: string): void {
    if (traceOut) traceOut(line);
    this.trace.update(line);
    this.trace.update('\n');
  }
}
