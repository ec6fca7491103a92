/** A slot is 4 KiB: one block of a disk. */
export const slotBytes = 4096;

/**
 * Bulk data beside an actor's keys: a file of fixed 4 KiB slots, written in place. Like the keys,
 * a write is visible at once and durable once a flush that follows it has completed; unlike them,
 * unflushed slot writes may survive a crash in any order and any one of them torn (page cache
 * write-back). Whoever points keys at slots must not reuse a slot until a flush has made the keys
 * that stopped pointing at it durable.
 */
export interface SlotFile {
  /** Copies `into.length / slotBytes` slots from `slot` on into `into`; never-written slots read as zeros. */
  read(slot: number, into: Uint8Array): void;
  /** Writes whole slots from `slot` on (the data is copied before this returns). */
  write(slot: number, data: Uint8Array): void;
}

/** Slots in the thread's memory, for storage that lives as long as its thread. */
export class MemorySlots implements SlotFile {
  protected readonly slots = new Map<number, Uint8Array>();

  read(slot: number, into: Uint8Array): void {
    for (let i = 0; i * slotBytes < into.length; i++) {
      const stored = this.slots.get(slot + i);
      const at = into.subarray(i * slotBytes, (i + 1) * slotBytes);
      if (stored) at.set(stored);
      else at.fill(0);
    }
  }

  write(slot: number, data: Uint8Array): void {
    for (let i = 0; i * slotBytes < data.length; i++)
      this.slots.set(slot + i, new Uint8Array(data.subarray(i * slotBytes, (i + 1) * slotBytes)));
  }
}
