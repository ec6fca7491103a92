import { assert } from '../assert.js';

/**
 * Which regions have writes in flight and which are held by a recovery copy. A copy waits until
 * the writes in flight on its region have finished; writes that arrive while a region is held
 * wait, in order, until the copy is done. Regions are named by `regionKey`.
 */
export class RegionLocks {
  private readonly inFlight = new Map<string, number>();
  private readonly held = new Set<string>();
  private readonly blocked: Array<{ keys: readonly string[]; run: () => void }> = [];
  private readonly drained = new Map<string, () => void>();

  /** Runs `run` now, or when none of `keys` is held any more. */
  whenFree(keys: readonly string[], run: () => void): void {
    if (keys.some((key) => this.held.has(key))) this.blocked.push({ keys, run });
    else run();
  }

  begin(keys: readonly string[]): void {
    for (const key of keys) this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
  }

  end(keys: readonly string[]): void {
    for (const key of keys) {
      const left = (this.inFlight.get(key) ?? 0) - 1;
      assert(left >= 0, `region ${key} ended more writes than began`);
      if (left > 0) {
        this.inFlight.set(key, left);
        continue;
      }
      this.inFlight.delete(key);
      const waiter = this.drained.get(key);
      this.drained.delete(key);
      waiter?.();
    }
  }

  /** Whether the one write in flight on each of `keys` is the caller's own. */
  alone(keys: readonly string[]): boolean {
    return keys.every((key) => this.inFlight.get(key) === 1);
  }

  busy(key: string): boolean {
    return this.inFlight.has(key);
  }

  /** Holds `key` against new writes and calls `then` once the writes in flight on it are done. */
  hold(key: string, then: () => void): void {
    assert(!this.held.has(key), `region ${key} held twice`);
    this.held.add(key);
    if (!this.inFlight.has(key)) return then();
    this.drained.set(key, then);
  }

  release(key: string): void {
    this.held.delete(key);
    const waiting = this.blocked.splice(0);
    for (const entry of waiting) this.whenFree(entry.keys, entry.run);
  }
}
