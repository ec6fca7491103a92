import type { ActorContext } from '../actors/actor.js';
import { crc32cEach } from '../actors/crc32c.js';
import { regionKey } from '../model/region-key.js';
import type { DiskWrite, WriteReply } from '../servers/server-protocol.js';
import { blockBytes } from '../storage/block-keys.js';
import type { DiskReply } from '../storage/disk-protocol.js';
import { isServerFailure, type Asker } from './asker.js';
import type { Completeness } from './completeness.js';
import { mixedIncarnation, type FlushLedger } from './flush-ledger.js';
import type { GroupFlush } from './group-flush.js';
import type { GroupReplyTo, GroupWrite } from './group-protocol.js';
import type { MarkBook } from './mark-book.js';

type WriteAnswer = GroupReplyTo<'write'>;

/** One write as writeCopies was given it. */
interface CopyWrite {
  readonly body: GroupWrite;
  readonly targets: readonly number[];
  readonly skipped: readonly number[];
  readonly regions: readonly number[];
  readonly done: (reply: WriteAnswer, holders: readonly number[]) => void;
  readonly answeredEarly: () => boolean;
  readonly stale: readonly number[] | undefined;
}

export interface CopyWritesDeps {
  readonly primary: number;
  readonly secondary: number;
  readonly requestTimeoutMs: number;
  readonly context: ActorContext;
  readonly asker: Asker;
  readonly ledger: FlushLedger;
  readonly flusher: GroupFlush;
  readonly completeness: Completeness;
  readonly markBook: MarkBook;
  readonly suspect: (server: number, reply: DiskReply) => void;
}

/**
 * How a replica group puts a write on its copies: both at once (client-driven, or through the
 * primary for server-driven duplication), or one alone with its stale marks in the same request;
 * each stamped with the group's seq, and settled into the flush ledger, the marks of copies it
 * missed, and the answer.
 */
export class CopyWrites {
  /** The seq of this incarnation's last write or trim (storage/stamps.ts). */
  private writeSeq = 0;
  /** Duplicates sent to the primary with `early`: what its `own-written` tell starts, by ref. */
  private readonly ownWritten = new Map<number, () => void>();
  /** What waits for a wall-clock deadline to pass, by timer ref. */
  private readonly afterDeadline = new Map<number, () => void>();
  private nextRef = 1;

  constructor(private readonly deps: CopyWritesDeps) {}

  /** The primary has its copy of the duplicate `ref` (an `own-written` tell). */
  ownCopyWritten(ref: number): void {
    this.ownWritten.get(ref)?.();
  }

  /** A deadline timer `ref` fired. */
  deadlinePassed(ref: number): void {
    const then = this.afterDeadline.get(ref);
    this.afterDeadline.delete(ref);
    then?.();
  }

  /**
   * Writes every live copy at once. A copy that was skipped (down, or its marks failed) or lost to
   * a server failure leaves a stale mark on the copies that have the write, and is named in the
   * answer's `missed`, so that readers keep off it until it has resynced. `early` (async
   * duplication) is called once one copy has the write while the other is still being written.
   * `stale`: regions the disks mark stale in the same request, before the data (`writeAlone`).
   */
  writeCopies(
    body: GroupWrite,
    targets: readonly number[],
    skipped: readonly number[],
    regions: readonly number[],
    done: (reply: WriteAnswer, holders: readonly number[]) => void,
    early?: (lagging: number) => void,
    answeredEarly: () => boolean = () => false,
    stale?: readonly number[],
  ): void {
    // Both copies take the same stamp (storage/stamps.ts): the term comes with the fence.
    const seq = (this.writeSeq += 1);
    // Both copies store the same checksums: computed once here, not once per disk.
    const crcs =
      body.op === 'write' && targets.length === 2
        ? crc32cEach(this.deps.context.view(body.handle), blockBytes)
        : undefined;
    const traced =
      body.op === 'trim' && body.replicas === 2 ? this.deps.completeness.mayDiffer(body.gmap, regions) : [];
    const disk = diskWriteOf(body, seq, { stale, crcs, traced });
    const replies = new Map<number, WriteReply>();
    let answer = early;
    const answerOnce = (lagging: number): void => {
      const then = answer;
      answer = undefined;
      then?.(lagging);
    };
    const serverDriven = body.duplication?.driver === 'server' && targets.length === 2;
    const got = (server: number, reply: WriteReply): void => {
      replies.set(server, reply);
      if (replies.size === targets.length)
        return this.settle({ body, targets, skipped, regions, done, answeredEarly, stale }, replies);
      // Client-driven: the first copy written answers; server-driven: the primary's tell does.
      if (reply.ok && !serverDriven) answerOnce(targets.find((other) => other !== server)!);
    };
    if (serverDriven) this.duplicateThroughPrimary(disk, early ? answerOnce : undefined, got);
    else for (const server of targets) this.deps.asker.ask(server, disk, (reply) => got(server, reply));
  }

  /**
   * Every copy answered: the ledger learns who holds the write, a lost copy is suspected, and the
   * answer says which copies missed it, with a stale mark on the survivors first.
   */
  private settle(write: CopyWrite, replies: ReadonlyMap<number, WriteReply>): void {
    const { body, targets, skipped, regions, done, answeredEarly, stale } = write;
    const succeeded = targets.filter((server) => replies.get(server)!.ok);
    if (body.replicas === 1) this.deps.flusher.wroteSingleCopy();
    else {
      for (const server of succeeded) {
        const incarnation = replies.get(server)!.incarnation ?? mixedIncarnation;
        for (const region of regions) this.deps.ledger.wrote(regionKey(body.gmap, region), server, incarnation);
      }
    }
    this.deps.flusher.flushIfBusy();
    const lost = targets.filter((server) => isServerFailure(replies.get(server)!));
    const refused = targets.map((server) => replies.get(server)!).find((reply) => !reply.ok && !isServerFailure(reply));
    for (const server of lost) this.deps.suspect(server, replies.get(server)!);
    if (refused) return done(refused, succeeded);
    // A write sent to one copy alone may have landed there unanswered, and readers use that copy.
    if (succeeded.length === 0) return done(replies.get(targets[0]!)!, targets.length === 1 ? targets : succeeded);
    const missed = [...skipped, ...lost];
    if (missed.length === 0 || body.replicas === 1) return done({ ok: true }, succeeded);
    // An incomplete survivor cannot stand for the region alone (see `incomplete`): the write
    // fails, and busy bits and stale marks already set decide what recovery copies. A write
    // answered early is the exception: it was alone on its regions since it was admitted with
    // both copies complete, so its survivor lacks nothing there, and readers may have seen it.
    const lone =
      succeeded.length === 1 && !answeredEarly()
        ? this.deps.completeness.aloneUnsafe(succeeded[0]!, body.gmap, regions)
        : undefined;
    if (lone)
      return done({ ok: false, code: 'WHORL_IO', message: `blocks ${body.block}+${body.count}: ${lone}` }, succeeded);
    // The surviving copy now holds data its partner lacks: mark it stale there before answering,
    // unless the write carried the marks (`writeAlone`).
    if (stale) return done({ ok: true, missed }, succeeded);
    let left = succeeded.length;
    let ok = true;
    for (const server of succeeded) {
      this.deps.markBook.ensure(server, 'stale', body.gmap, regions, (marked) => {
        ok &&= marked;
        if (--left === 0)
          done(
            ok ? { ok: true, missed } : { ok: false, code: 'WHORL_IO', message: 'could not mark a lost copy stale' },
            succeeded,
          );
      });
    }
  }

  /**
   * Writes the one reachable copy, marking the regions stale there in the same request (those
   * not known durable already): the disk puts the marks before the data, so they are on stable
   * storage whenever the data is, and the write waits for no flush of its own. A mark set durably
   * first (as the busy bit is) would cost every region's first lone write a flush. Until the
   * answer, the marks count as being set (mark-book.ts).
   */
  writeAlone(
    body: GroupWrite,
    server: number,
    skipped: readonly number[],
    regions: readonly number[],
    done: (reply: WriteAnswer, holders?: readonly number[]) => void,
  ): void {
    const stale = this.deps.markBook.notDurable(server, 'stale', body.gmap, regions);
    if (stale.length === 0) return this.writeCopies(body, [server], skipped, regions, done);
    if (
      this.deps.markBook.afterClears(server, 'stale', body.gmap, stale, () =>
        this.writeAlone(body, server, skipped, regions, done),
      )
    )
      return;
    const carried = this.deps.markBook.carryWithWrite(server, body.gmap, stale);
    const written = (reply: WriteAnswer, holders: readonly number[]): void => {
      // Answered: the disk has put the marks. Unanswered, it may not have: the region is
      // unsettled (recovery copies it), and the listing shows any mark that did land.
      carried(reply.ok);
      done(reply, holders);
    };
    this.writeCopies(body, [server], skipped, regions, written, undefined, undefined, stale);
  }

  /**
   * Server-driven duplication: the primary writes its copy and forwards the write to its mirror.
   * If the primary fails as a whole, the mirror's fate is unknown until the forward's deadline
   * has passed (server-protocol.ts); then the mirror is written directly, so that its copy is
   * known and no late forward can land after a later write.
   */
  private duplicateThroughPrimary(
    disk: DiskWrite,
    early: ((lagging: number) => void) | undefined,
    got: (server: number, reply: WriteReply) => void,
  ): void {
    const ref = this.nextRef++;
    const notAfterMs = this.deps.context.wallClockMs() + this.deps.requestTimeoutMs / 2;
    if (early) this.ownWritten.set(ref, () => early(this.deps.secondary));
    this.deps.asker.ask(
      this.deps.primary,
      { op: 'duplicate', ref, mirror: this.deps.secondary, notAfterMs, early: early !== undefined, write: disk },
      (reply) => {
        this.ownWritten.delete(ref);
        const { mirror, ...own } = reply;
        if (mirror) {
          got(this.deps.secondary, mirror);
          return got(this.deps.primary, own);
        }
        got(this.deps.primary, own);
        const timer = this.nextRef++;
        this.afterDeadline.set(timer, () =>
          this.deps.asker.ask(this.deps.secondary, disk, (direct) => got(this.deps.secondary, direct)),
        );
        this.deps.context.setTimer(Math.max(0, notAfterMs - this.deps.context.wallClockMs()) + 1, {
          op: 'deadline',
          ref: timer,
        });
      },
    );
  }
}

/**
 * What each copy's disk is asked: the group's write or trim with its seq, stale marks, checksums,
 * and the regions where a trim leaves stamped holes everywhere (`Completeness.mayDiffer`).
 */
function diskWriteOf(
  body: GroupWrite,
  seq: number,
  extra: { stale: readonly number[] | undefined; crcs: number[] | undefined; traced: readonly number[] },
): DiskWrite {
  const { stale, crcs, traced } = extra;
  const marks = stale ? { stale } : {};
  const { gmap, epoch, block, count, fua } = body;
  if (body.op === 'write')
    return {
      op: 'write',
      gmap,
      epoch,
      block,
      count,
      handle: body.handle,
      fua,
      seq,
      ...marks,
      ...(crcs ? { crcs } : {}),
    };
  return {
    op: 'trim',
    gmap,
    epoch,
    block,
    count,
    fua,
    ...(body.base ? { base: body.base } : {}),
    seq,
    ...marks,
    ...(traced.length > 0 ? { traced } : {}),
  };
}
