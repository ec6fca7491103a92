import type { ActorContext, RequestIncoming } from '../actors/actor.js';
import { parseRegionKey } from '../model/region-key.js';
import type { DiskReply, Failure } from '../storage/disk-protocol.js';
import type { Asker } from './asker.js';
import type { Background } from './background.js';
import type { Completeness } from './completeness.js';
import { mixedIncarnation, type FlushLedger } from './flush-ledger.js';
import type { GroupRequest } from './group-protocol.js';
import type { MarkBook } from './mark-book.js';
import type { RegionLocks } from './region-locks.js';

type Request = RequestIncoming<GroupRequest>;

export interface GroupFlushDeps {
  readonly name: string;
  readonly primary: number;
  readonly secondary: number;
  /** Regions written since the last flush past which the group flushes on its own. */
  readonly busyRegionsMax: number;
  readonly context: ActorContext;
  readonly asker: Asker;
  readonly ledger: FlushLedger;
  readonly background: Background;
  readonly completeness: Completeness;
  readonly markBook: MarkBook;
  readonly locks: RegionLocks;
  /** Servers seen restarted since recovery last reconciled them (replica-group.ts). */
  readonly restarted: ReadonlySet<number>;
  /** Regions a failed write left unsettled, with the copy to settle them from (replica-group.ts). */
  readonly unsettled: Map<string, number | undefined>;
  readonly writable: (server: number) => boolean;
  readonly suspect: (server: number, reply: DiskReply) => void;
  /** Starts a recovery pass that makes unsettled regions' copies equal (recovery.ts). */
  readonly reconcile: () => void;
}

/**
 * A replica group's FLUSH path: the router's FLUSH (both copies flushed, stale marks where one
 * missed it, refused where no one copy holds all of a region), `flushed` (busy bits cleared where
 * the ledger says both copies hold the writes durably), and the flushes the group starts itself
 * past `busyRegionsMax` regions.
 */
export class GroupFlush {
  /**
   * Writes of 1-replica disks (on the primary alone) and how many of them a flush of the primary
   * covered. They set no busy bit, so they stay out of the ledger, whose size decides when the
   * group flushes its copies itself and clears busy bits: counted there, a 1-replica disk's
   * writes made the group clear and set again the busy bits of a 2-replica disk's hot regions, a
   * flush per batch (degraded randwrite after a 1-replica disk's jobs: 3,714 fdatasync in 5 s
   * against 545). A FLUSH with both copies out still refuses while one may be unflushed.
   */
  private singleCopyWrites = 0;
  private singleCopyFlushed = 0;
  /** Flushes the group starts itself take negative tokens; the router's are positive. */
  private ownFlushes = 0;
  private ownFlushing = false;

  constructor(private readonly deps: GroupFlushDeps) {}

  /** A write of a 1-replica disk was settled (it counts against no busy bit). */
  wroteSingleCopy(): void {
    this.singleCopyWrites += 1;
  }

  /**
   * Flushes both copies (the one that is up, with a copy out: before, a group without its
   * primary flushed nothing); answered once both have answered, and refused when neither copy
   * flushed. `complete` says the primary flushed (writes that reached only the secondary are
   * under a stale mark). Busy bits of the regions written before the flush are cleared at
   * `flushed`, where the ledger says both copies flushed them in the incarnation that
   * acknowledged them.
   */
  flush(request: Request, token: number): void {
    this.deps.background.settled((ok) => {
      if (ok) return this.flushCopies(request, token);
      this.deps.context.reply(request, {
        ok: false,
        code: 'WHORL_IO',
        message: `group ${this.deps.name}: a write answered before this flush lost its second copy and could not be marked stale`,
      } satisfies Failure);
    });
  }
  private flushCopies(request: Request, token: number): void {
    if (!this.deps.writable(this.deps.primary) && !this.deps.writable(this.deps.secondary)) {
      // Both copies out: writes answered since the last flush that settled are durable nowhere
      // the group can vouch for (sim --strict-flush chained seed 147: OK was answered, and the
      // one copy that had the write crashed before it was flushed).
      this.deps.ledger.begin(token);
      if (this.deps.ledger.covers(token) === 0 && this.singleCopyFlushed === this.singleCopyWrites)
        return this.deps.context.reply(request, { ok: true, complete: false });
      return this.deps.context.reply(request, {
        ok: false,
        code: 'WHORL_IO',
        message: `group ${this.deps.name}: both copies (servers ${this.deps.primary}, ${this.deps.secondary}) are out with writes not known flushed`,
      } satisfies Failure);
    }
    this.flushBoth(token, (flushedOk) => {
      const risks = this.deps.ledger.atRisk(token);
      // Without the primary (its disk holds the busy bits) none can be cleared: once this flush
      // has vouched for what it covered (answered OK, stale marks set where a copy missed its
      // flush), the ledger lets go of it, and the bits stay until recovery has looked. A FLUSH
      // that fails lets go of nothing: the FLUSHes after it must find the same writes at risk
      // (sim hybrid --strict-flush seed 162: a failed FLUSH let them go, the next one answered
      // OK with no stale mark on the one copy that had flushed them, and recovery later copied
      // the other copy, which had lost them in a crash, over it).
      if (![...flushedOk.values()].some((ok) => ok)) {
        return this.deps.context.reply(request, {
          ok: false,
          code: 'WHORL_IO',
          message: `group ${this.deps.name}: no copy could flush (servers ${[...flushedOk.keys()].join(', ')})`,
        } satisfies Failure);
      }
      this.markUnflushed(risks, (failure) => {
        if (!failure && !this.deps.writable(this.deps.primary)) this.deps.ledger.settle(token);
        this.deps.context.reply(request, failure ?? { ok: true, complete: flushedOk.get(this.deps.primary) === true });
      });
    });
  }

  /**
   * A FLUSH answered while a copy that acknowledged writes had not flushed them (it was out, its
   * flush failed, or it restarted since) leaves them durable only on the copy that flushed: a
   * stale mark there says so before the answer, so that recovery copies that copy over the other
   * and never the other way (sim --strict-flush client-sync seed 210: the unflushed copy crashed,
   * then the flushed one went down, and recovery had only a busy bit and two restarted copies).
   * The FLUSH fails for a region no copy flushed (its writes are durable nowhere), or whose only
   * flushed copy may lack earlier writes its partner holds (resyncing, restarted, or under the
   * partner's stale mark): no one copy has all of it, and recovery copies whole regions. Later
   * FLUSHes fail too while the ledger holds those writes: the group cannot tell which of them a
   * client's FLUSH covered (one answered while the FLUSH was in flight was not), so one report
   * cannot let them go (README, "Writes").
   */
  private markUnflushed(risks: ReturnType<FlushLedger['atRisk']>, then: (failure?: Failure) => void): void {
    const marks = new Map<string, { server: number; gmap: number; regions: number[] }>();
    for (const { key, flushed, unflushed } of risks) {
      const { gmap, region } = parseRegionKey(key);
      const complete = flushed.filter(
        (server) =>
          !this.deps.restarted.has(server) && this.deps.completeness.aloneUnsafe(server, gmap, [region]) === undefined,
      );
      if (complete.length === 0) {
        const why =
          flushed.length === 0
            ? 'no copy did'
            : `server ${flushed.join(', ')}, which did, lacks earlier writes (resyncing, restarted or marked stale)`;
        return then({
          ok: false,
          code: 'WHORL_IO',
          message: `group ${this.deps.name}: server ${unflushed.join(', ')} did not flush writes to region ${region} of global map ${gmap}, and ${why}`,
        });
      }
      for (const server of complete) {
        const entry = marks.get(`${server}:${gmap}`) ?? { server, gmap, regions: [] };
        entry.regions.push(region);
        marks.set(`${server}:${gmap}`, entry);
      }
      // Recovery copies the region even if neither copy goes down, and clears the mark.
      if (!this.deps.unsettled.has(key)) this.deps.unsettled.set(key, complete[0]);
    }
    if (marks.size === 0) return then();
    this.deps.reconcile();
    let left = marks.size;
    let failure: Failure | undefined;
    for (const { server, gmap, regions } of marks.values()) {
      this.deps.markBook.ensure(server, 'stale', gmap, regions, (ok, reply) => {
        if (!ok)
          failure ??= {
            ok: false,
            code: 'WHORL_IO',
            message: `group ${this.deps.name}: server ${server} flushed writes its partner had not, and could not mark them stale: ${reply.ok ? '' : reply.message}`,
          };
        if (--left === 0) then(failure);
      });
    }
  }

  /**
   * Past `busyRegionsMax` regions written since the last flush, flushes both copies and, when
   * both did, settles it as the router's `flushed` does: busy bits of the regions both copies
   * now hold durably are cleared. With a copy out it waits for the client's FLUSH, as before.
   */
  flushIfBusy(): void {
    if (this.ownFlushing || this.deps.ledger.regionsSinceFlush < this.deps.busyRegionsMax) return;
    if (!this.deps.writable(this.deps.primary) && !this.deps.writable(this.deps.secondary)) return;
    this.ownFlushing = true;
    const token = -++this.ownFlushes;
    this.flushBoth(token, (flushedOk) => {
      this.ownFlushing = false;
      // With a copy out, the ledger covers only what the copy that is up acknowledged; without
      // the primary, no bit can be cleared and the ledger lets go (see flushCopies). Keeping
      // such a flush unsettled instead (as the client's FLUSH now does when it fails) left
      // copies differing after healing (--busy-regions-max 1 --strict-flush seed 364): not kept.
      if (flushedOk.get(this.deps.primary) && [...flushedOk.values()].every((ok) => ok)) this.flushed(token);
      else this.deps.ledger.settle(token);
    });
  }

  /**
   * Starts flush `token` in the ledger and flushes every writable copy; `then` hears, once all
   * have answered, which of them flushed (the ledger notes the incarnation each flushed in).
   */
  private flushBoth(token: number, then: (flushedOk: Map<number, boolean>) => void): void {
    this.deps.ledger.begin(token);
    const singleCopyCovered = this.singleCopyWrites;
    const copies = [this.deps.primary, this.deps.secondary].filter((server) => this.deps.writable(server));
    const flushedOk = new Map<number, boolean>();
    for (const server of copies) {
      this.deps.asker.ask(server, { op: 'flush' }, (reply) => {
        if (reply.ok) {
          this.deps.ledger.flushedOn(token, server, reply.incarnation ?? mixedIncarnation);
          if (server === this.deps.primary)
            this.singleCopyFlushed = Math.max(this.singleCopyFlushed, singleCopyCovered);
        } else this.deps.suspect(server, reply);
        flushedOk.set(server, reply.ok);
        if (flushedOk.size === copies.length) then(flushedOk);
      });
    }
  }

  flushed(token: number): void {
    // A copy that restarted may have lost writes from before its crash in any busy region: the
    // bits stay until recovery has reconciled it, whatever later writes were flushed (seed 137).
    if (this.deps.restarted.has(this.deps.primary) || this.deps.restarted.has(this.deps.secondary)) {
      this.deps.ledger.settle(token);
      return;
    }
    const byGmap = new Map<number, number[]>();
    for (const key of this.deps.ledger.settle(token)) {
      if (this.deps.ledger.writtenSinceFlush(key) || this.deps.locks.busy(key) || this.deps.unsettled.has(key))
        continue;
      const { gmap, region } = parseRegionKey(key);
      byGmap.set(gmap, [...(byGmap.get(gmap) ?? []), region]);
    }
    for (const [gmap, regions] of byGmap) this.deps.markBook.clear(this.deps.primary, 'busy', gmap, regions);
  }
}
