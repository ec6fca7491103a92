/** How many times each key is held (a multiset): a key is present while its count is above zero. */
export class Counts<K> {
  private readonly counts = new Map<K, number>();

  add(keys: Iterable<K>): void {
    for (const key of keys) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Lets go of one hold of each key (each must be held). */
  remove(keys: Iterable<K>): void {
    for (const key of keys) {
      const left = this.counts.get(key)! - 1;
      if (left === 0) this.counts.delete(key);
      else this.counts.set(key, left);
    }
  }

  has(key: K): boolean {
    return this.counts.has(key);
  }

  keys(): IterableIterator<K> {
    return this.counts.keys();
  }
}
