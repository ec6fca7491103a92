import { Counts } from './counts.js';

/**
 * Regions with a write that may be answered early (an async mirror protocol), from its admission
 * until both copies have it (or it ended). The client may write the same blocks again at once;
 * that write waits here, so that both copies apply the two in the same order and no other write
 * changes which copy of the region is complete meanwhile. Keys are the region-lock keys of the
 * write (region-locks.ts).
 */
export class TrailingWrites {
  private readonly trailing = new Counts<string>();
  private readonly behind: Array<{ keys: readonly string[]; run: () => void }> = [];

  /** Runs `run` now when none of `keys` has a trailing write, else once none has. */
  after(keys: readonly string[], run: () => void): void {
    if (keys.some((key) => this.trailing.has(key))) this.behind.push({ keys, run });
    else run();
  }

  /** A write on `keys` starts (1) or stops (-1) trailing; writes it held back may then start. */
  trail(keys: readonly string[], delta: 1 | -1): void {
    if (delta > 0) return this.trailing.add(keys);
    this.trailing.remove(keys);
    // In arrival order: a write still blocked keeps the ones behind it on the same keys waiting.
    const waiting = this.behind.splice(0);
    const blocked = new Set<string>(this.trailing.keys());
    for (const entry of waiting) {
      if (entry.keys.some((key) => blocked.has(key))) {
        this.behind.push(entry);
        for (const key of entry.keys) blocked.add(key);
      } else entry.run();
    }
  }
}
