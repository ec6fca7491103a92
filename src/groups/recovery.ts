import type { ActorContext } from '../actors/actor.js';
import { address } from '../actors/address.js';
import { assert } from '../assert.js';
import type { BufferHandle } from '../actors/buffer-pool.js';
import { stoppedCleanFor, writable, type ClusterView } from '../model/catalog.js';
import type { ControlRequest } from '../control/control-protocol.js';
import type { MarkKind } from '../storage/block-keys.js';
import type { DiskReply } from '../storage/disk-protocol.js';
import { isServerFailure, type Asker } from './asker.js';
import { type RegionLocks } from './region-locks.js';
import { RegionMerge } from './region-merge.js';
import { planCopies, type Copy, type PlanInputs } from './recovery-plan.js';
import { RecoveryProgress } from './recovery-progress.js';
import { RecoveryBatch } from './recovery-batch.js';

export interface RecoveryDeps {
  /** The group's actor name: it recovers the units it orders (`ordererOf`). */
  readonly group: string;
  readonly primary: number;
  readonly secondary: number;
  readonly servers: number;
  readonly context: ActorContext;
  readonly asker: Asker;
  readonly locks: RegionLocks;
  readonly copyHandles: readonly BufferHandle[];
  view(): ClusterView | undefined;
  /** Asks the control actor for its current view (pushes may be lost). */
  refreshView(): void;
  /** Counts the stale marks set and servers suspected by the group's writes. */
  changes(): number;
  /** Servers the group has reported down and not yet seen down. */
  suspected(): ReadonlySet<number>;
  /** Servers that restarted since recovery last reconciled them; recovery removes those it did. */
  readonly restarted: Set<number>;
  /** Regions (`gmap:region`) a failed write may have left different on the two copies. */
  readonly unsettled: Map<string, number | undefined>;
  /**
   * Stale marks the group has set or is setting (`server` holds writes its partner lacks). A
   * listing answered before a mark being set reached the disk misses it; the plan must not.
   */
  knownStale(): Array<{ server: number; gmap: number; region: number }>;
  /** A pass listed `server`'s stale marks and left none in the group's regions uncopied. */
  staleMarksSettled(server: number): void;
  /** `then` runs once the server has answered (cleared or not). */
  clearMarks(server: number, kind: MarkKind, gmap: number, regions: readonly number[], then?: () => void): void;
}

/** Regions held and copied together, made durable on both copies by one flush each. */
const batchRegionsMax = 32;
const retryMs = 500;

/**
 * Where recovery is: idle; waiting for its retry timer (a repeated round and a reconcile wait for
 * it, a new round or a new view does not); or running a pass, which began when the group's
 * changes counted `changesAtStart` (a change since voids its plan), and which another pass follows
 * when `again` (something asked for one meanwhile).
 */
type Run =
  | { readonly kind: 'idle' }
  | { readonly kind: 'waiting' }
  | { readonly kind: 'passing'; readonly changesAtStart: number; again: boolean };

const idle: Run = { kind: 'idle' };

/**
 * Makes the two copies of this group's units equal again (Petal's resync and crash recovery):
 * regions stale on one copy are copied from it to the other; regions busy on the primary (a write
 * may have reached one copy only) are copied from the copy that stayed up, else from the primary.
 * Each batch of regions is held against writes, copied, flushed on both copies, and only then are
 * the marks cleared. Passes repeat until one finds nothing to do; then the servers that asked are
 * reported recovered to the control actor.
 */
export class Recovery {
  private readonly rounds = new Map<number, number>();
  private run: Run = idle;
  private readonly progress: RecoveryProgress;
  private readonly batches: RecoveryBatch;

  constructor(private readonly deps: RecoveryDeps) {
    const merge = new RegionMerge(
      deps.asker,
      (server, reply) => this.check(server, reply),
      (message, fields) => deps.context.log(message, fields),
    );
    this.progress = new RecoveryProgress(deps.context, deps.group);
    const { asker, locks, copyHandles, unsettled } = deps;
    this.batches = new RecoveryBatch({
      asker,
      locks,
      copyHandles,
      unsettled,
      merge,
      clearMarks: (server, kind, gmap, regions, then) => deps.clearMarks(server, kind, gmap, regions, then),
      check: (server, reply) => this.check(server, reply),
      planVoid: () => deps.changes() !== this.passing('held').changesAtStart,
    });
  }

  /** Whether a recovery round for `server` is open here (asked for and not yet reported done). */
  awaiting(server: number): boolean {
    return this.rounds.has(server);
  }

  /** The control actor asks for a recovery round on behalf of a returning server. */
  request(server: number, round: number): void {
    // The control actor repeats a round with each view it sends: a repeat waits for the retry timer.
    const repeat = this.rounds.get(server) === round;
    this.rounds.set(server, round);
    if (this.run.kind === 'passing') this.run.again = true;
    else if (!repeat || this.run.kind === 'idle') this.startPass();
  }

  /** A failed write left a region unsettled: a pass makes its copies equal even with both up. */
  reconcile(): void {
    if (this.run.kind === 'passing') this.run.again = true;
    else if (this.run.kind === 'idle') this.startPass();
  }

  onView(): void {
    if (this.run.kind !== 'passing' && this.pending()) this.startPass();
  }

  /** The retry timer fired (one set by a pass that has since run is spent: nothing happens). */
  onTimer(): void {
    if (this.run.kind === 'passing') return;
    this.run = idle;
    if (this.pending()) this.startPass();
  }

  private pending(): boolean {
    return this.rounds.size > 0 || this.deps.unsettled.size > 0;
  }

  private startPass(): void {
    assert(this.run.kind !== 'passing', `${this.deps.group}: a recovery pass started while one runs`);
    const view = this.deps.view();
    if (!view) return this.retryLater();
    this.run = { kind: 'passing', changesAtStart: this.deps.changes(), again: false };
    this.progress.passStarted();
    const { primary, secondary } = this.deps;
    const lists: Array<{ server: number; kind: MarkKind }> = [
      { server: primary, kind: 'stale' },
      { server: primary, kind: 'busy' },
      { server: secondary, kind: 'stale' },
    ].filter(({ server }) => writable(view.servers[server]?.state)) as Array<{ server: number; kind: MarkKind }>;
    const found: Array<{ server: number; kind: MarkKind; marks: Array<{ gmap: number; region: number }> }> = [];
    let left = lists.length;
    if (left === 0) return this.finishPass(view, []);
    let failed = false;
    for (const list of lists) {
      this.deps.asker.ask(list.server, { op: 'listMarks', kind: list.kind }, (reply) => {
        if (reply.ok) found.push({ ...list, marks: reply.marks ?? [] });
        else failed = true;
        // A listing that did not answer may hold the stale mark that decides a direction: no
        // copy is planned from the others.
        if (--left > 0) return;
        if (failed) this.retryLater();
        else this.finishPass(view, this.plan(view, found));
      });
    }
  }

  /** What to copy where, from the marks the pass listed (recovery-plan.ts). */
  private plan(view: ClusterView, found: PlanInputs['found']): Copy[] {
    const { group, primary, secondary, unsettled, restarted } = this.deps;
    const knownStale = this.deps.knownStale();
    const log = (event: string, fields: Record<string, unknown>): void => this.deps.context.log(event, fields);
    return planCopies(view, { group, primary, secondary, found, knownStale, unsettled, restarted, log });
  }

  /** `view` is the one the pass planned with: a server it showed down was skipped, whatever the view is now. */
  private finishPass(view: ClusterView, copies: Copy[]): void {
    const run = this.passing('finished');
    if (copies.length === 0) {
      // A write that marked a region stale during this pass may not have been listed: look again.
      if (this.deps.changes() !== run.changesAtStart) return this.retryLater();
      // The pass listed the stale marks of every server its view showed writable.
      for (const server of [this.deps.primary, this.deps.secondary])
        if (writable(view.servers[server]?.state)) this.deps.staleMarksSettled(server);
      this.run = idle;
      const control = address(this.deps.context.self.node, 'control');
      let lagging = false;
      for (const [server, round] of this.rounds) {
        // Not yet, and the round stays (with a newer view fetched), when: the server is suspected
        // (it may have missed writes since the marks were listed); the pass's view showed it down
        // (it was skipped as a copy target); or that view showed its partner down (the partner's
        // stale marks, which say what this copy lacks, went unread) — unless the partner was
        // stopped clean for this group: no write reaches it, and it held no stale mark in this
        // group's regions once none could.
        const partner = server === this.deps.primary ? this.deps.secondary : this.deps.primary;
        const partnerKnown =
          writable(view.servers[partner]?.state) || stoppedCleanFor(view.servers[partner], this.deps.group);
        if (this.deps.suspected().has(server) || !writable(view.servers[server]?.state) || !partnerKnown) {
          lagging = true;
          continue;
        }
        this.deps.context.send(control, {
          op: 'recovered',
          group: this.deps.group,
          server,
          round,
        } satisfies ControlRequest);
        this.rounds.delete(server);
        this.deps.restarted.delete(server);
      }
      if (lagging) {
        this.deps.refreshView();
        return this.retryLater();
      }
      this.rounds.clear();
      this.progress.ended();
      if (run.again) this.startPass();
      return;
    }
    this.runBatches(copies, 0);
  }

  private runBatches(copies: Copy[], at: number): void {
    this.passing('copied');
    if (at >= copies.length) {
      this.run = idle;
      return this.startPass();
    }
    const batch = copies.slice(at, at + batchRegionsMax);
    this.progress.report(this.rounds.keys(), copies.length - at);
    this.batches.copy(batch, (outcome) => {
      if (outcome === 'replan') {
        this.run = idle;
        return this.startPass();
      }
      if (outcome === 'failed') return this.retryLater();
      this.progress.copied(batch.length);
      this.runBatches(copies, at + batch.length);
    });
  }

  private check(server: number, reply: DiskReply): boolean {
    if (reply.ok) return true;
    if (isServerFailure(reply)) {
      this.deps.context.send(address(this.deps.context.self.node, 'control'), {
        op: 'suspect',
        server,
        why: `recovery: ${reply.code}`,
        code: reply.code,
      } satisfies ControlRequest);
    }
    this.deps.context.log('recovery copy failed', { server, code: reply.code, message: reply.message });
    return false;
  }

  private retryLater(): void {
    this.run = { kind: 'waiting' };
    this.deps.context.setTimer(retryMs, { op: 'recovery-retry' });
  }

  /** The pass that runs, asserted on the way into its step `what`. */
  private passing(what: string): Extract<Run, { kind: 'passing' }> {
    const run = this.run;
    assert(run.kind === 'passing', `${this.deps.group}: recovery ${what} with no pass running (${run.kind})`);
    return run;
  }
}
