/**
 * What one disk's LMDB environment has not yet committed, shared between the disk's thread and
 * readers on other threads (the front end's direct reads, storage/direct-reads.ts). A disk answers
 * a write once it sees it itself, before lmdb-js commits it; another thread sees only committed
 * entries. So the disk counts, per hash slot of each key it wrote, the writes not yet committed,
 * and bumps a generation after every commit. A reader that finds a key's slot at zero, and then
 * renews its read transaction if the generation moved, sees every write that disk answered.
 *
 *   | Int32 index | meaning                                                      |
 *   |-------------|--------------------------------------------------------------|
 *   | 0           | generation: commits made visible so far (wraps)              |
 *   | 1 .. slots  | writes not yet committed whose key hashes to this slot        |
 *   | slots + 1   | writes not yet committed, of any key                          |
 *
 * A disk bumps the generation *before* it counts a commit's keys down, and a reader reads the count
 * *before* the generation: a zero count then implies a generation that covers the commit.
 * Colliding keys only send a reader the slow way (through the disk actor).
 */
const slots = 1 << 16;
const totalCell = slots + 1;

export class CommitTable {
  private readonly cells: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer);
  }

  static create(): CommitTable {
    return new CommitTable(new SharedArrayBuffer((slots + 2) * 4));
  }

  /** A write of `key` is queued for the next commit. */
  written(key: string): void {
    Atomics.add(this.cells, slotOf(key), 1);
    Atomics.add(this.cells, totalCell, 1);
  }

  /** These keys' writes are now visible to every thread (`keys` as written, one per write). */
  committed(keys: readonly string[]): void {
    Atomics.add(this.cells, 0, 1);
    for (const key of keys) Atomics.sub(this.cells, slotOf(key), 1);
    Atomics.sub(this.cells, totalCell, keys.length);
  }

  /** Whether a write of any key may be answered and not yet visible (read it before the generation, too). */
  anyUncommitted(): boolean {
    return Atomics.load(this.cells, totalCell) !== 0;
  }

  /** Whether a write of `key` (or of a key in the same slot) may be answered and not yet visible. */
  uncommitted(key: string): boolean {
    return Atomics.load(this.cells, slotOf(key)) !== 0;
  }

  get generation(): number {
    return Atomics.load(this.cells, 0);
  }
}

/** FNV-1a over the key's UTF-16 units, into 1 .. slots. */
function slotOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return 1 + ((hash >>> 0) & (slots - 1));
}
