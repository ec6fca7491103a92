import type { BufferHandle } from '../actors/buffer-pool.js';
import { regionKey } from '../model/region-key.js';
import type { MarkKind } from '../storage/block-keys.js';
import type { DiskReply } from '../storage/disk-protocol.js';
import type { Asker } from './asker.js';
import type { Copy } from './recovery-plan.js';
import type { RegionLocks } from './region-locks.js';
import type { RegionMerge } from './region-merge.js';

/** How a batch ended: copied and its marks cleared, failed (retried later), or its plan void. */
export type BatchOutcome = 'copied' | 'failed' | 'replan';

/** What a batch needs of recovery (recovery.ts). */
export interface BatchDeps {
  readonly asker: Asker;
  readonly locks: RegionLocks;
  readonly copyHandles: readonly BufferHandle[];
  readonly merge: RegionMerge;
  /** Regions a failed write left unsettled: a copied one is settled. */
  readonly unsettled: Map<string, number | undefined>;
  clearMarks(server: number, kind: MarkKind, gmap: number, regions: readonly number[], then?: () => void): void;
  /** Judges a reply as recovery does (a failure fails the copy). */
  check(server: number, reply: DiskReply): boolean;
  /** Whether the pass's plan is void: the group's writes set a mark or lost a server since it planned. */
  planVoid(): boolean;
}

/** Recovery's copy of one batch of regions, each merged through one of the group's copy buffers. */
export class RecoveryBatch {
  constructor(private readonly deps: BatchDeps) {}

  /**
   * Holds every region of the batch, copies them, flushes both copies, clears the marks, releases.
   * A write that waited ahead of the hold may have set a stale mark or lost a server since the
   * pass planned: the plan is then void, and the pass starts over ('replan').
   */
  copy(batch: Copy[], done: (outcome: BatchOutcome) => void): void {
    const { locks } = this.deps;
    const keys = batch.map((copy) => regionKey(copy.disk.gmap, copy.region));
    const release = (outcome: BatchOutcome): void => {
      for (const key of keys) locks.release(key);
      done(outcome);
    };
    const finish = (outcome: BatchOutcome): void => {
      if (outcome !== 'copied') return release(outcome);
      for (const key of keys) this.deps.unsettled.delete(key);
      // The next pass lists marks again: a listing answered before a clear would copy the region
      // once more with no mark left to cover that copy's unflushed writes (a crash then tears the
      // target unseen; sim seed 292). So the pass ends only when every clear has been answered.
      const clears = batch.flatMap((copy) =>
        copy.clears.map((clear) => ({ ...clear, gmap: copy.disk.gmap, region: copy.region })),
      );
      let left = clears.length;
      if (left === 0) return release(outcome);
      for (const { server, kind, gmap, region } of clears) {
        this.deps.clearMarks(server, kind, gmap, [region], () => {
          if (--left === 0) release(outcome);
        });
      }
    };
    let held = 0;
    for (const key of keys) {
      locks.hold(key, () => {
        if (++held < keys.length) return;
        if (this.deps.planVoid()) return finish('replan');
        // The copies' own writes are made durable first: a version one copy holds unflushed (with
        // the stale mark that says so) must not become durable on the other before it does, or a
        // crash of its holder leaves the other alone with it and no mark to say the copies differ
        // (sim --whole-threads seed 433: the source lost a write and its mark, the target kept the
        // copy, and no pass ever looked at the region again).
        this.flushCopies(batch, (flushed) => {
          if (!flushed) return finish('failed');
          this.copyAll(batch, (ok) => finish(ok ? 'copied' : 'failed'));
        });
      });
    }
  }

  private copyAll(batch: Copy[], done: (ok: boolean) => void): void {
    const queue = [...batch];
    let running = 0;
    let ok = true;
    const next = (handle: BufferHandle): void => {
      const copy = queue.shift();
      if (!copy || !ok) {
        if (--running === 0) {
          if (!ok) return done(false);
          this.flushCopies(batch, done);
        }
        return;
      }
      this.deps.merge.region(copy, handle, (copied) => {
        ok &&= copied;
        next(handle);
      });
    };
    for (const handle of this.deps.copyHandles) {
      running += 1;
      next(handle);
    }
  }

  /**
   * Flushes both copies of every region of the batch: before the merge (see `copyBatch`), and
   * after it, since a mark may go only once the region is durable and equal on both.
   */
  private flushCopies(batch: Copy[], done: (ok: boolean) => void): void {
    const targets = [...new Set(batch.flatMap((copy) => [copy.from, copy.to]))];
    let left = targets.length;
    let flushed = true;
    for (const target of targets) {
      this.deps.asker.ask(target, { op: 'flush' }, (reply) => {
        flushed &&= this.deps.check(target, reply);
        if (--left === 0) done(flushed);
      });
    }
  }
}
