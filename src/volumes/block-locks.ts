/**
 * Serializes read-modify-write of partly written 4 KiB blocks: two unaligned writes that share a
 * block must not both read the old block and each write back half of it. Whole-block writes do
 * not take it (overlapping writes in flight may land in any order, as in NBD).
 */
export class BlockLocks {
  private readonly tails = new Map<number, Promise<void>>();

  async with<T>(blocks: readonly number[], run: () => Promise<T>): Promise<T> {
    const unique = [...new Set(blocks)].sort((a, b) => a - b);
    const previous = unique.map((block) => this.tails.get(block) ?? Promise.resolve());
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    for (const block of unique) this.tails.set(block, mine);
    await Promise.all(previous);
    try {
      return await run();
    } finally {
      release();
      for (const block of unique) if (this.tails.get(block) === mine) this.tails.delete(block);
    }
  }
}
