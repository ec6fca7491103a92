import type { ActorContext, RequestIncoming } from '../actors/actor.js';
import type { BufferHandle } from '../actors/buffer-pool.js';
import { assert } from '../assert.js';
import { blockBytes, regionBytes, type MarkKind } from '../storage/block-keys.js';
import type { DiskReply, Failure } from '../storage/disk-protocol.js';
import { regionsOf } from '../model/layout.js';
import type { Background } from './background.js';
import type { Completeness } from './completeness.js';
import type { CaughtUp, GroupReplyTo, GroupRequest, GroupWrite } from './group-protocol.js';
import type { MarkBook } from './mark-book.js';
import type { OutConfirmation } from './out-confirmation.js';
import type { RegionLocks } from './region-locks.js';
import type { TrailingWrites } from './trailing-writes.js';

type WriteAnswer = GroupReplyTo<'write'>;
type Done = (reply: WriteAnswer, holders?: readonly number[]) => void;

/** What a write needs of its group (replica-group.ts). */
export interface WriteOpDeps {
  readonly name: string;
  readonly context: ActorContext;
  readonly completeness: Completeness;
  readonly locks: RegionLocks;
  readonly outConfirmation: OutConfirmation;
  readonly trailing: TrailingWrites;
  /** The group's buffers for writes answered early: one is taken per such write, and given back. */
  readonly lagHandles: BufferHandle[];
  /** Regions a failed write left unsettled, with the copy to settle them from. */
  readonly unsettled: Map<string, number | undefined>;
  readonly reconcile: () => void;
  readonly background: Background;
  readonly markBook: MarkBook;
  readonly suspect: (server: number, reply: DiskReply) => void;
  readonly writable: (server: number) => boolean;
  /** The marks to set durably before writing `targets` (the busy bit on the primary). */
  readonly marksFor: (body: GroupWrite, targets: readonly number[]) => Array<{ server: number; kind: MarkKind }>;
  /** Writes every copy in `targets` at once (replica-group.ts). */
  readonly writeCopies: (
    body: GroupWrite,
    targets: readonly number[],
    skipped: readonly number[],
    regions: readonly number[],
    done: Done,
    early?: (lagging: number) => void,
    answeredEarly?: () => boolean,
  ) => void;
  /** Writes one copy alone, with stale marks for its partner. */
  readonly writeAlone: (
    body: GroupWrite,
    server: number,
    skipped: readonly number[],
    regions: readonly number[],
    done: Done,
  ) => void;
}

/**
 * Admits a write whose regions are free (`pair`: the group's primary and secondary): refused at
 * once with no copy to write, or with one alone that is not safe to write alone; else its regions
 * are locked and a WriteOp takes it.
 */
export function admitWrite(
  deps: WriteOpDeps,
  request: RequestIncoming<GroupRequest>,
  body: GroupWrite,
  keys: readonly string[],
  pair: readonly [number, number],
): void {
  const copies = body.replicas === 1 ? [pair[0]] : [...pair];
  const targets = copies.filter((server) => deps.writable(server));
  const blocks = `blocks ${body.block}+${body.count}`;
  if (targets.length === 0) {
    const message = `no copy of ${blocks} is reachable (servers ${copies.join(', ')} are down)`;
    return deps.context.reply(request, { ok: false, code: 'WHORL_IO', message } satisfies Failure);
  }
  const regions = regionsOf(body.block, body.count);
  const lone =
    body.replicas === 2 && targets.length === 1
      ? deps.completeness.aloneUnsafe(targets[0]!, body.gmap, regions)
      : undefined;
  if (lone)
    return deps.context.reply(request, {
      ok: false,
      code: 'WHORL_IO',
      message: `${blocks}: ${lone}`,
    } satisfies Failure);
  deps.locks.begin(keys);
  new WriteOp(deps, request, body, keys, copies, targets, regions).start();
}

/**
 * Where a write is: its regions locked (`admitted`), its marks being set (`marking`), its copies
 * being written (`writing`), answered while the second copy is still being written
 * (`answered-early`, async duplication), the control actor asked to confirm the copies it missed
 * are out (`confirming`), and `finished` (answered, or its caught-up told; locks released).
 */
type Phase = 'admitted' | 'marking' | 'writing' | 'answered-early' | 'confirming' | 'finished';

/**
 * One write or trim of a replica group, from admission (its regions locked, a copy to write) to
 * its answer: the marks, the copies, an early answer where async duplication allows one, the
 * confirmation that copies it missed are out, and what a failure leaves for recovery to settle.
 */
export class WriteOp {
  private phase: Phase = 'admitted';
  /** Set when the write was answered before its second copy had it (async duplication). */
  private early: { seq: number; lagging: number } | undefined;
  /** The group's buffer holding the data of a write that may be answered early. */
  private ownBuffer: BufferHandle | undefined;
  /** The view count when the write was admitted (out-confirmation.ts). */
  private readonly admittedAt: number;

  constructor(
    private readonly deps: WriteOpDeps,
    private readonly request: RequestIncoming<GroupRequest>,
    private readonly body: GroupWrite,
    private readonly keys: readonly string[],
    /** The copies the write goes to: the primary, and the secondary for 2 replicas. */
    private readonly copies: readonly number[],
    /** Those writable at admission. */
    private readonly targets: readonly number[],
    private readonly regions: readonly number[],
  ) {
    this.admittedAt = deps.outConfirmation.views;
  }

  /** Sets the marks the write needs, then writes. */
  start(): void {
    this.enter('marking', ['admitted']);
    const { markBook, suspect } = this.deps;
    const marks = this.deps.marksFor(this.body, this.targets);
    const failed = new Set<number>();
    let marksLeft = marks.length;
    if (marksLeft === 0) return this.write(failed);
    for (const mark of marks) {
      markBook.ensure(mark.server, mark.kind, this.body.gmap, this.regions, (ok, reply) => {
        if (!ok) {
          failed.add(mark.server);
          suspect(mark.server, reply);
        }
        if (--marksLeft === 0) this.write(failed);
      });
    }
  }

  /** The marks are set (or failed on the servers in `failed`): writes the copies that remain. */
  private write(failed: ReadonlySet<number>): void {
    this.enter('writing', ['marking']);
    const { body, copies, targets, regions } = this;
    const { completeness, writable } = this.deps;
    const blocks = `blocks ${body.block}+${body.count}`;
    // A copy that was out at admission and is back (the marks waited, e.g. on a clear): written
    // alone now, the write would leave it short after its resync may have ended. Nothing is
    // written yet: the write is refused, to be sent again (sim server-sync seed 2231).
    const back = copies.filter((server) => !targets.includes(server) && writable(server));
    if (back.length > 0)
      return this.finish({
        ok: false,
        code: 'WHORL_NOT_READY',
        message: `${blocks}: server ${back.join(', ')} came back while the write waited`,
      });
    const live = targets.filter((server) => !failed.has(server));
    if (live.length === 0)
      return this.finish({
        ok: false,
        code: 'WHORL_IO',
        message: `could not mark regions on servers ${targets.join(', ')}`,
      });
    // A copy left alone by its partner's failed mark gets the check a write to it alone gets on
    // admission: written while incomplete, it would hold a write that recovery then takes back
    // from the partner, after a reader may have seen it (sim server-sync seed 53).
    const lone =
      body.replicas === 2 && live.length === 1 && targets.length === 2
        ? completeness.aloneUnsafe(live[0]!, body.gmap, regions)
        : undefined;
    if (lone) return this.finish({ ok: false, code: 'WHORL_IO', message: `${blocks}: ${lone}` });
    const done: Done = (reply, holders) => this.finish(reply, holders);
    const skipped = copies.filter((server) => !live.includes(server));
    const mayAnswerEarly = body.op === 'write' && this.mayAnswerEarly(live);
    if (!mayAnswerEarly && body.replicas === 2 && targets.length === 1) {
      const alone = targets[0]!;
      return this.deps.writeAlone(
        body,
        alone,
        copies.filter((server) => server !== alone),
        regions,
        done,
      );
    }
    if (!mayAnswerEarly) return this.deps.writeCopies(body, live, skipped, regions, done);
    // The data outlives the answer: both copies are written from the group's own buffer.
    const own = this.deps.lagHandles.pop()!;
    const copy = { ...own, lengthBytes: body.count * blockBytes };
    this.deps.context.view(body.handle).copy(this.deps.context.view(copy));
    this.ownBuffer = own;
    this.deps.trailing.trail(this.keys, 1);
    this.deps.writeCopies(
      { ...body, handle: copy },
      live,
      skipped,
      regions,
      done,
      (lagging) => this.answerEarly(lagging),
      () => this.early !== undefined,
    );
  }

  /**
   * Whether a write may be answered once one copy has it (a trim never is: it holds no buffer, so
   * nothing would bound how many wait in the background between admission and answer). Only alone
   * on its regions (later ones wait behind it, see `trailing`): another write in flight could lose
   * a copy and mark its partner stale, leaving each copy short of a write the other has, and the
   * early-answered one lost with its second copy (sim server-async seed 174).
   */
  private mayAnswerEarly(live: readonly number[]): boolean {
    const { body } = this;
    return (
      body.duplication?.sync === false &&
      !body.fua &&
      live.length === 2 &&
      this.deps.completeness.bothComplete(body.gmap, this.regions) &&
      body.count * blockBytes <= regionBytes &&
      this.deps.lagHandles.length > 0 &&
      this.deps.locks.alone(this.keys)
    );
  }

  /** One copy has the write, `lagging` is still being written: the client is answered now. */
  private answerEarly(lagging: number): void {
    // A copy that went down or out meanwhile: the answer waits for the write's outcome.
    if (!this.deps.completeness.bothComplete(this.body.gmap, this.regions)) return;
    this.enter('answered-early', ['writing']);
    this.early = { seq: this.deps.background.begin(), lagging };
    for (const key of this.keys) this.deps.completeness.laggingIn.set(key, lagging);
    this.deps.context.reply(this.request, {
      ok: true,
      lagging: { server: lagging, seq: this.early.seq, incarnation: this.deps.context.incarnation },
    } satisfies WriteAnswer);
  }

  /**
   * The write's outcome. `holders`: the copies a failed write landed on, when it was sent to the
   * disks (it may have landed on others too, unanswered). A write that missed copies waits for the
   * control actor to confirm they are out before it is answered.
   */
  private finish(reply: WriteAnswer, holders?: readonly number[]): void {
    const { deps, body, keys } = this;
    if (reply.ok && reply.missed?.length && this.phase !== 'confirming') {
      this.enter('confirming', ['writing', 'answered-early']);
      return deps.outConfirmation.confirm(reply.missed, holders ?? [], this.admittedAt, (out) =>
        this.finish(
          out
            ? reply
            : {
                ok: false,
                code: 'WHORL_NOT_READY',
                message: `blocks ${body.block}+${body.count}: the control actor has not put server ${reply.missed!.join(', ')} out`,
              },
          holders,
        ),
      );
    }
    this.enter('finished', ['writing', 'answered-early', 'confirming']);
    // Both copies have the write now, or a stale mark says which lacks it.
    if (this.early) for (const key of keys) deps.completeness.laggingIn.delete(key);
    deps.locks.end(keys);
    if (this.ownBuffer) {
      deps.lagHandles.push(this.ownBuffer);
      deps.trailing.trail(keys, -1);
    }
    if (!reply.ok && holders) {
      const answered = this.early !== undefined;
      for (const key of keys)
        deps.unsettled.set(key, deps.completeness.settlingSource(holders, body.gmap, this.regions, answered));
      deps.reconcile();
    }
    if (!this.early) return deps.context.reply(this.request, reply);
    deps.background.end(this.early.seq, reply.ok);
    const missed = reply.ok ? (reply.missed ?? []) : this.copies.filter((server) => !holders?.includes(server));
    deps.context.send(this.request.from, {
      type: 'caught-up',
      group: deps.name,
      seq: this.early.seq,
      incarnation: deps.context.incarnation,
      missed,
    } satisfies CaughtUp);
  }

  private enter(next: Phase, from: readonly Phase[]): void {
    assert(from.includes(this.phase), `write ${this.body.block}+${this.body.count}: ${this.phase} -> ${next}`);
    this.phase = next;
  }
}
