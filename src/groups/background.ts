import { assert } from '../assert.js';

/**
 * The async duplication protocols' bookkeeping: writes answered once one copy had them while the
 * other copy is still being written. Their number and bytes are bounded by the group's lag
 * buffers (each holds one such write's data until both copies have it). A FLUSH waits until every
 * write answered before it has both copies (or a stale mark for the missing one); if one of them
 * ended without either, the flush fails, so an acknowledged FLUSH never covers a write that only
 * one copy holds unmarked.
 */
export class Background {
  private nextSeq = 1;
  private readonly pending = new Set<number>();
  /** Background writes that ended without both copies or a mark, not yet reported by a flush. */
  private unreported = 0;
  private readonly waiters: Array<{ left: Set<number>; then: (ok: boolean) => void }> = [];

  /** A write was answered early: returns its sequence number for `end`. */
  begin(): number {
    const seq = this.nextSeq++;
    this.pending.add(seq);
    return seq;
  }

  /** Whether write `seq` was answered early and has not ended. */
  has(seq: number): boolean {
    return this.pending.has(seq);
  }

  /** Both copies have it (`ok`), or it ended without a durable record of the missing copy. */
  end(seq: number, ok: boolean): void {
    assert(this.pending.delete(seq), `background write ${seq} ended twice`);
    if (!ok) this.unreported += 1;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      waiter.left.delete(seq);
      if (waiter.left.size > 0) continue;
      this.waiters.splice(i, 1);
      waiter.then(this.report());
    }
  }

  /**
   * Calls `then` once every write answered so far has ended; `ok` is false when one that ended
   * since the last report lost its second copy unmarked (that flush reports it, once).
   */
  settled(then: (ok: boolean) => void): void {
    if (this.pending.size === 0) return then(this.report());
    this.waiters.push({ left: new Set(this.pending), then });
  }

  private report(): boolean {
    const ok = this.unreported === 0;
    this.unreported = 0;
    return ok;
  }
}
