import { WhorlError } from '../errors.js';
import { FreeSlots } from './free-slots.js';

/**
 * How far past the slots in use the block file may grow to keep a multi-block write's slots in a
 * row: a quarter, and at least 4,096 slots (16 MiB). Without it, once random writes scatter the
 * free slots, a sequential rewrite takes them scattered and frees scattered ones, for good.
 * An eighth ran out within the first pass; a half cost more space for little more speed
 * (BENCHMARKS.md, "Slots in a row").
 */
const slack = 1 / 4;
const slackSlotsMin = 4096;

/**
 * Which slots of a disk's block file hold live data, and which may take new data. A slot that a
 * write or trim stopped using goes to limbo, not straight back to the free list: until a flush
 * makes that change durable, a crash could bring back the key that points at it, and reusing the
 * slot would put another block's bytes under it. Each flush takes the limbo with it (`seal`) and
 * frees it when it completes (`settle`).
 */
export class SlotAllocator {
  /** Slots [0, end) exist in the file; new slots come from `free` or from `end` (see `take`). */
  private end = 0;
  private readonly free = new FreeSlots();
  private limbo: number[] = [];

  /**
   * `used` are the slots live keys point at. Every other slot below the highest goes to limbo:
   * an earlier incarnation may have let go of it without a flush since.
   */
  constructor(
    used: Iterable<number>,
    private readonly limit: number,
  ) {
    const sorted = Uint32Array.from(used).sort();
    let next = 0;
    for (const slot of sorted) {
      for (let gap = next; gap < slot; gap++) this.limbo.push(gap);
      next = slot + 1;
    }
    this.end = next;
  }

  /** Slots in use or waiting, i.e. the block file's length in slots. */
  get endSlot(): number {
    return this.end;
  }

  get limboCount(): number {
    return this.limbo.length;
  }

  /**
   * `count` slots for new data, ascending. Several go in a row if they can (one pwrite now, one
   * pread later): a free run, or new slots at the end while the file stays within `slack` of the
   * slots in use; else free slots wherever they are, then new ones.
   */
  take(count: number): number[] {
    if (count > 1) {
      const run = this.free.takeRun(count);
      if (run.length > 0) return run;
      const inUse = this.end - this.free.size - this.limbo.length;
      if (this.end + count <= Math.min(this.limit, inUse + Math.max(slackSlotsMin, Math.floor(inUse * slack))))
        return this.append(count, []);
    }
    if (this.end + count - Math.min(count, this.free.size) > this.limit) {
      throw new WhorlError(
        'WHORL_NO_SPACE',
        `block file full: ${this.end} slots, ${this.limbo.length} of them waiting for a flush to be reused`,
      );
    }
    // A run was looked for above: what is free is scattered.
    return this.append(count, this.free.takeScattered(count));
  }

  private append(count: number, taken: number[]): number[] {
    while (taken.length < count) taken.push(this.end++);
    return taken;
  }

  /** Slots taken but never pointed at by any key (a write that failed): free at once. */
  giveBack(slots: readonly number[]): void {
    for (const slot of slots) this.free.add(slot);
  }

  /** A key stopped pointing at `slot`: reusable once a flush after this completes. */
  release(slot: number): void {
    this.limbo.push(slot);
  }

  /** A flush starts now: hands it the slots released so far. */
  seal(): number[] {
    const batch = this.limbo;
    this.limbo = [];
    return batch;
  }

  /** The flush that took `batch` completed (ok) or failed (the slots wait for the next one). */
  settle(batch: number[], ok: boolean): void {
    if (!ok) for (const slot of batch) this.limbo.push(slot);
    else for (const slot of batch) this.free.add(slot);
  }
}
