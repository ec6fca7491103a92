/**
 * Who may answer a write that one copy missed. A copy that did not take a write (down, its marks
 * failed, or unreachable) leaves the other copy holding data it lacks; the control actor's view is
 * the one authority on which copy that is. So a group answers such a write only once a view from
 * the control actor has shown every missed copy out (down or stopped) since the write was
 * admitted, and shows the copies that took it writable: then the control actor has ordered the
 * failure, and any later coordinator of these units (a restarted group, or one on another node)
 * starts from a view in which the missed copy must be resynced before readers use it. A copy the
 * view already showed out at admission needs nothing more.
 *
 * Without the confirmation, a group cut off from its partner's node and from the control actor
 * would answer writes its partner lacks, while a successor on the partner's side answered newer
 * ones the other way: each copy short of acknowledged writes the other holds. With it, a group
 * that cannot reach the control actor holds such writes unanswered and fails them after `waitMs`
 * (`WHORL_NOT_READY`, which a router retries where the group may have moved).
 */
export interface OutConfirmationHost {
  /** Whether the group's current view shows `server` writable (up or resyncing); else it is out. */
  isWritable(server: number): boolean;
  setTimer(delayMs: number, ref: number): void;
}

interface Waiter {
  readonly missed: readonly number[];
  readonly holders: readonly number[];
  readonly since: number;
  readonly then: (confirmed: boolean) => void;
}

export class OutConfirmation {
  private readonly waiters = new Map<number, Waiter>();
  private nextRef = 0;
  /** Views adopted so far: a write's admission is the count then. */
  private seen = 0;
  /** The view count when each server was last seen out. */
  private readonly lastOut = new Map<number, number>();

  constructor(
    private readonly host: OutConfirmationHost,
    private readonly waitMs: number,
  ) {}

  get views(): number {
    return this.seen;
  }

  /**
   * Calls `then(true)` once a view since `since` (a `views` count) has shown `missed` out while
   * `holders` are writable (at once when one has), or `then(false)` when a view shows a holder out
   * or `waitMs` passes first.
   */
  confirm(
    missed: readonly number[],
    holders: readonly number[],
    since: number,
    then: (confirmed: boolean) => void,
  ): void {
    const waiter = { missed, holders, since, then };
    if (this.settle(waiter)) return;
    const ref = this.nextRef++;
    this.waiters.set(ref, waiter);
    this.host.setTimer(this.waitMs, ref);
  }

  /** A new view was adopted: answers the waiters it settles. */
  onView(servers: readonly number[]): void {
    this.seen += 1;
    for (const server of servers) if (!this.host.isWritable(server)) this.lastOut.set(server, this.seen);
    for (const [ref, waiter] of this.waiters) if (this.settle(waiter)) this.waiters.delete(ref);
  }

  /** Returns false when the timer was not one of these. */
  onTimer(ref: number): boolean {
    const waiter = this.waiters.get(ref);
    if (!waiter) return false;
    this.waiters.delete(ref);
    waiter.then(false);
    return true;
  }

  private settle(waiter: Waiter): boolean {
    if (!waiter.holders.every((server) => this.host.isWritable(server))) {
      waiter.then(false);
      return true;
    }
    if (!waiter.missed.every((server) => (this.lastOut.get(server) ?? -1) >= waiter.since)) return false;
    waiter.then(true);
    return true;
  }
}
