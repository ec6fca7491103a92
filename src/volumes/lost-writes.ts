/**
 * The router's account of answered writes a worker thread's death may have lost: a write answered
 * from copies that all lived on threads that then died before a FLUSH covered it (its writes not
 * yet handed to LMDB die with the thread). A copy on another thread keeps the write, and recovery
 * copies it back. The front end reports each loss once per connection at its next FLUSH
 * (`lostWrites` in nbd/backend.ts).
 *
 * Each answered write is kept as the key of its set of holding servers (`holdersKey`), until a
 * FLUSH that covered it succeeds.
 */
export class LostWrites {
  /** Holder keys of writes answered since the last FLUSH began. */
  private answered = new Set<number>();
  /** Those of FLUSHes in flight. */
  private readonly covering = new Set<Set<number>>();
  /** The actors each worker thread that died held, in order. */
  private readonly deaths: Array<ReadonlySet<string>> = [];
  private losses = 0;

  /** Times answered writes may have been lost unflushed. */
  get count(): number {
    return this.losses;
  }

  /** A mark to hand to `answered` for a write sent now. */
  get deathsSoFar(): number {
    return this.deaths.length;
  }

  /**
   * A write sent when `deathsSoFar` was `deathsBefore` was answered from the servers of `holders`
   * (`holdersKey`). An answer that crossed the death of the thread holding every copy was lost as
   * it arrived.
   */
  answeredBy(holders: number, deathsBefore: number): void {
    if (this.deaths.length > deathsBefore && this.deaths.slice(deathsBefore).some((dead) => heldOnlyBy(holders, dead)))
      this.losses += 1;
    this.answered.add(holders);
  }

  /** A FLUSH begins: it covers the writes answered so far. */
  beginFlush(): Set<number> {
    const covered = this.answered;
    this.answered = new Set();
    this.covering.add(covered);
    return covered;
  }

  /** The FLUSH that covered `covered` ended; one a group refused leaves its writes to the next. */
  endFlush(covered: Set<number>, refused: boolean): void {
    this.covering.delete(covered);
    if (refused) for (const key of covered) this.answered.add(key);
  }

  threadDied(actors: ReadonlySet<string>): void {
    this.deaths.push(actors);
    for (const keys of [this.answered, ...this.covering]) {
      for (const key of keys) {
        if (heldOnlyBy(key, actors)) {
          this.losses += 1;
          return;
        }
      }
    }
  }
}

/**
 * The servers holding one answered write, as a number (none is 0): each server `s` adds a digit
 * `s + 1` in base 65, so the write path builds no string or array per write.
 */
export function holdersKey(key: number, server: number): number {
  return key * 65 + server + 1;
}

/** Whether every disk in `key` (`holdersKey`) is among `actors` (true for none: no copy at all). */
function heldOnlyBy(key: number, actors: ReadonlySet<string>): boolean {
  for (let rest = key; rest > 0; rest = Math.floor(rest / 65)) if (!actors.has(`disk-${(rest % 65) - 1}`)) return false;
  return true;
}
