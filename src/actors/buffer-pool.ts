import { assert, fail } from '../assert.js';
import { WhorlError } from '../errors.js';

/**
 * Shared payload memory. Bytes live in SharedArrayBuffer slabs visible to every thread; a message
 * carries a BufferHandle (slab, offset, length, generation), never the bytes.
 *
 * Slab layout (one slab = one size class):
 *
 *   | field       | type                   | meaning                                        |
 *   |-------------|------------------------|------------------------------------------------|
 *   | data        | SharedArrayBuffer      | slotCount × slotBytes payload bytes            |
 *   | inUse[i]    | Int32 (shared, Atomics)| 0 free, 1 leased; claimed with compareExchange |
 *   | generation[i] | Int32 (shared)       | bumped on every lease; a handle whose          |
 *   |             |                        | generation differs is stale                    |
 *   | free[0]     | Int32 (shared, Atomics)| slots not leased: a full slab is passed over   |
 *   |             |                        | without visiting its slots                     |
 *
 * Size classes are powers of two from 4 KiB to 64 MiB (the largest NBD payload). The pool grows
 * one slab at a time up to `maxBytes`; past that `tryLease` returns undefined and `lease` waits
 * for a release (backpressure, never unbounded growth).
 */
export interface BufferHandle {
  readonly slab: number;
  readonly offsetBytes: number;
  readonly lengthBytes: number;
  readonly generation: number;
}

export interface Lease {
  readonly handle: BufferHandle;
  /** A view of exactly `lengthBytes` bytes of the slot. */
  readonly bytes: Buffer;
}

export interface SlabDescriptor {
  readonly id: number;
  readonly slotBytes: number;
  readonly slotCount: number;
  readonly data: SharedArrayBuffer;
  readonly inUse: SharedArrayBuffer;
  readonly generation: SharedArrayBuffer;
  readonly free: SharedArrayBuffer;
}

export const slotBytesMin = 4096;
export const slotBytesMax = 64 * 1024 * 1024;
const slabBytesTarget = 4 * 1024 * 1024;
const waitersMax = 4096;
/**
 * A release on another thread cannot resolve this thread's promises, so while leases wait the
 * pool also looks for freed slots on a timer.
 */
const waiterPollMs = 1;

interface Slab {
  readonly descriptor: SlabDescriptor;
  readonly data: Buffer;
  readonly inUse: Int32Array;
  readonly generation: Int32Array;
  readonly free: Int32Array;
  nextHint: number;
}

export interface BufferPoolOptions {
  readonly maxBytes?: number;
  /** Called with each new slab, so that other threads can attach it. */
  readonly onGrow?: (slab: SlabDescriptor) => void;
}

export class BufferPool {
  readonly maxBytes: number;
  private readonly slabs: Slab[] = [];
  private readonly classes: Slab[][] = [];
  private allocatedBytes = 0;
  private readonly onGrow: ((slab: SlabDescriptor) => void) | undefined;
  private readonly growable: boolean;
  private readonly waiters: Array<{ lengthBytes: number; resolve: (lease: Lease) => void }> = [];
  private waiterPoll: NodeJS.Timeout | undefined;

  constructor(options: BufferPoolOptions = {}) {
    this.maxBytes = options.maxBytes ?? 512 * 1024 * 1024;
    this.onGrow = options.onGrow;
    this.growable = this.maxBytes > 0;
    assert(!this.growable || this.maxBytes >= slotBytesMax, `pool maxBytes ${this.maxBytes} below the largest slot`);
    for (let size = slotBytesMin; size <= slotBytesMax; size *= 2) this.classes.push([]);
  }

  /** A pool on another thread: it leases only from slabs the owning thread shares with it. */
  static attached(): BufferPool {
    return new BufferPool({ maxBytes: 0 });
  }

  /** Adopts slabs created by the owning thread (idempotent). */
  attach(descriptors: readonly SlabDescriptor[]): void {
    for (const descriptor of descriptors) {
      if (this.slabs[descriptor.id]) continue;
      const slab = slabFrom(descriptor);
      this.slabs[descriptor.id] = slab;
      this.classes[Math.log2(descriptor.slotBytes / slotBytesMin)]!.push(slab);
    }
  }

  /** Slots currently leased, by any thread; zero after every workload has finished. */
  get leased(): number {
    let count = 0;
    for (const slab of this.slabs) {
      if (!slab) continue;
      for (let i = 0; i < slab.descriptor.slotCount; i++) count += Atomics.load(slab.inUse, i);
    }
    return count;
  }

  get sizeBytes(): number {
    return this.allocatedBytes;
  }

  tryLease(lengthBytes: number): Lease | undefined {
    if (!Number.isInteger(lengthBytes) || lengthBytes < 0 || lengthBytes > slotBytesMax)
      fail(`lease of ${lengthBytes} bytes`);
    const classIndex = sizeClass(lengthBytes);
    for (const slab of this.classes[classIndex]!) {
      const lease = this.claim(slab, lengthBytes);
      if (lease) return lease;
    }
    const slab = this.grow(classIndex);
    return slab ? this.claim(slab, lengthBytes) : undefined;
  }

  /** Waits for space when the pool is at its bound. */
  lease(lengthBytes: number): Promise<Lease> {
    const lease = this.tryLease(lengthBytes);
    if (lease) return Promise.resolve(lease);
    if (this.waiters.length >= waitersMax) {
      return Promise.reject(new WhorlError('WHORL_POOL_EXHAUSTED', `buffer pool: ${waitersMax} waiters already`));
    }
    this.waiterPoll ??= setInterval(() => this.wakeWaiters(), waiterPollMs);
    return new Promise((resolve) => this.waiters.push({ lengthBytes, resolve }));
  }

  release(handle: BufferHandle): void {
    const slab = this.slabs[handle.slab];
    if (!slab) fail(`release of unknown slab ${handle.slab}`);
    const slot = handle.offsetBytes / slab.descriptor.slotBytes;
    if (!Number.isInteger(slot) || slot >= slab.descriptor.slotCount)
      fail(`release of bad offset ${handle.offsetBytes}`);
    if (Atomics.load(slab.generation, slot) !== handle.generation || Atomics.load(slab.inUse, slot) !== 1) {
      throw new WhorlError(
        'WHORL_STALE_HANDLE',
        `release of stale handle slab=${handle.slab} slot=${slot} generation=${handle.generation}`,
      );
    }
    Atomics.store(slab.inUse, slot, 0);
    Atomics.add(slab.free, 0, 1);
    slab.nextHint = Math.min(slab.nextHint, slot);
    this.wakeWaiters();
  }

  /**
   * The handle of bytes that live in one of this pool's leased slots (a view handed out by a
   * lease, or part of one), or undefined for ordinary memory. Handles into the middle of a slot
   * may be viewed and sent, never released.
   */
  handleOf(bytes: Uint8Array): BufferHandle | undefined {
    const slab = this.slabs.find((candidate) => candidate && candidate.descriptor.data === bytes.buffer);
    if (!slab) return undefined;
    const slot = Math.floor(bytes.byteOffset / slab.descriptor.slotBytes);
    assert(bytes.byteOffset + bytes.length <= (slot + 1) * slab.descriptor.slotBytes, 'bytes span two slots');
    if (Atomics.load(slab.inUse, slot) !== 1) return undefined;
    return {
      slab: slab.descriptor.id,
      offsetBytes: bytes.byteOffset,
      lengthBytes: bytes.length,
      generation: Atomics.load(slab.generation, slot),
    };
  }

  /** Resolves a handle to its bytes, refusing a handle whose slot has since been reused. */
  view(handle: BufferHandle): Buffer {
    const slab = this.slabs[handle.slab];
    if (!slab) fail(`view of unknown slab ${handle.slab}`);
    const slot = Math.floor(handle.offsetBytes / slab.descriptor.slotBytes);
    if (Atomics.load(slab.generation, slot) !== handle.generation) {
      throw new WhorlError(
        'WHORL_STALE_HANDLE',
        `stale handle slab=${handle.slab} slot=${slot} generation=${handle.generation}`,
      );
    }
    return slab.data.subarray(handle.offsetBytes, handle.offsetBytes + handle.lengthBytes);
  }

  descriptors(): SlabDescriptor[] {
    return this.slabs.map((slab) => slab.descriptor);
  }

  private claim(slab: Slab, lengthBytes: number): Lease | undefined {
    const { slotCount, slotBytes, id } = slab.descriptor;
    // Taking a count first keeps a pool of many full slabs cheap to lease from: a lease holds one
    // of `free` before it looks for its slot, so the slot it looks for exists.
    for (let free = Atomics.load(slab.free, 0); ;) {
      if (free <= 0) return undefined;
      const seen = Atomics.compareExchange(slab.free, 0, free, free - 1);
      if (seen === free) break;
      free = seen;
    }
    for (let i = 0; ; i++) {
      assert(i < 4 * slotCount, `slab ${id}: a slot counted free was found`);
      const slot = (slab.nextHint + i) % slotCount;
      if (Atomics.compareExchange(slab.inUse, slot, 0, 1) !== 0) continue;
      const generation = Atomics.add(slab.generation, slot, 1) + 1;
      slab.nextHint = (slot + 1) % slotCount;
      const offsetBytes = slot * slotBytes;
      return {
        handle: { slab: id, offsetBytes, lengthBytes, generation },
        bytes: slab.data.subarray(offsetBytes, offsetBytes + lengthBytes),
      };
    }
  }

  private grow(classIndex: number): Slab | undefined {
    const slotBytes = slotBytesMin << classIndex;
    const slotCount = Math.max(1, Math.floor(slabBytesTarget / slotBytes));
    const slabBytes = slotBytes * slotCount;
    if (!this.growable || this.allocatedBytes + slabBytes > this.maxBytes) return undefined;
    const descriptor: SlabDescriptor = {
      id: this.slabs.length,
      slotBytes,
      slotCount,
      data: new SharedArrayBuffer(slabBytes),
      inUse: new SharedArrayBuffer(slotCount * 4),
      generation: new SharedArrayBuffer(slotCount * 4),
      free: new SharedArrayBuffer(4),
    };
    new Int32Array(descriptor.free)[0] = slotCount;
    const slab = slabFrom(descriptor);
    this.slabs.push(slab);
    this.classes[classIndex]!.push(slab);
    this.allocatedBytes += slabBytes;
    this.onGrow?.(descriptor);
    return slab;
  }

  private wakeWaiters(): void {
    while (this.waiters.length > 0) {
      const lease = this.tryLease(this.waiters[0]!.lengthBytes);
      if (!lease) return;
      this.waiters.shift()!.resolve(lease);
    }
    clearInterval(this.waiterPoll);
    this.waiterPoll = undefined;
  }
}

function slabFrom(descriptor: SlabDescriptor): Slab {
  return {
    descriptor,
    data: Buffer.from(descriptor.data),
    inUse: new Int32Array(descriptor.inUse),
    generation: new Int32Array(descriptor.generation),
    free: new Int32Array(descriptor.free),
    nextHint: 0,
  };
}

function sizeClass(lengthBytes: number): number {
  let classIndex = 0;
  while (slotBytesMin << classIndex < lengthBytes) classIndex += 1;
  return classIndex;
}

const zeros = new Uint8Array(64 * 1024);

/**
 * Zeros bytes [start, end) of `bytes`. Pool memory is a SharedArrayBuffer, where `fill` stores
 * byte by byte (1.5 µs a 4 KiB block on this machine); copying from ordinary zeroed memory is a
 * memcpy (0.2 µs).
 */
export function zeroFill(bytes: Uint8Array, start = 0, end = bytes.length): void {
  for (let at = start; at < end; at += zeros.length) bytes.set(zeros.subarray(0, Math.min(zeros.length, end - at)), at);
}
