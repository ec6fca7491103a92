import type { Actor, ActorContext, Behavior, Incoming, RequestIncoming } from '../actors/actor.js';
import { address } from '../actors/address.js';
import type { BufferHandle } from '../actors/buffer-pool.js';
import { assertNever } from '../assert.js';
import { writable, type ServerState } from '../model/catalog.js';
import type { ControlPush } from '../control/control-protocol.js';
import type { MarkKind } from '../storage/block-keys.js';
import type { DiskReply, Failure } from '../storage/disk-protocol.js';
import { regionsOf } from '../model/layout.js';
import { Asker } from './asker.js';
import type { OwnWritten } from '../servers/server-protocol.js';
import { Background } from './background.js';
import type { GroupRequest, GroupWrite } from './group-protocol.js';
import { FlushLedger } from './flush-ledger.js';
import { Recovery } from './recovery.js';
import { TermClaim } from './term-claim.js';
import { TrailingWrites } from './trailing-writes.js';
import { GroupSuspicions } from './group-suspicions.js';
import { RegionLocks } from './region-locks.js';
import { OutConfirmation } from './out-confirmation.js';
import { MarkBook } from './mark-book.js';
import { Completeness } from './completeness.js';
import { GroupFlush } from './group-flush.js';
import { WriteOp, type WriteOpDeps } from './write-op.js';
import { GroupView } from './group-view.js';
import { CopyWrites } from './copy-writes.js';
import { regionKey } from '../model/region-key.js';

export interface GroupOptions {
  /** The actor's name: `group-P` (chained declustering) or `mirror-P-M` (a CEFT mirror pair). */
  readonly name: string;
  readonly primary: number;
  readonly secondary: number;
  readonly servers: number;
  readonly requestTimeoutMs: number;
  /** 64 KiB shared buffers this group owns for recovery copies (leased by the main thread). */
  readonly copyHandles: readonly BufferHandle[];
  /**
   * Mirror pairs: 64 KiB shared buffers for async writes. A write answered before its second copy
   * is written must not depend on the client's buffer (released with the answer): its data is
   * copied into one of these first, which bounds the background lag to their total size.
   */
  readonly lagHandles?: readonly BufferHandle[];
  /** Regions written since the last flush past which the group flushes both copies on its own. */
  readonly busyRegionsMax?: number;
  /**
   * It takes over from an incarnation that ran on another node (placement across hosts): like a
   * restarted one, it counts its primary as restarted, so recovery copies the busy regions from
   * the secondary when the primary returns.
   */
  readonly successor?: boolean;
}

/**
 * Regions a group lets be written without a flush before it flushes both copies itself (256 MiB
 * of 64 KiB regions). Each such region holds a busy bit on the primary's disk and a ledger entry
 * here until a flush lets them go: a client that never sends FLUSH (fio's default, a guest with
 * its cache off) would otherwise grow both without bound, in memory and in what recovery copies
 * after a crash.
 */
export const busyRegionsMaxDefault = 4096;

type Message = GroupRequest | ControlPush | OwnWritten;
type Incoming_ = Incoming<Message>;

type Request = RequestIncoming<GroupRequest>;

/**
 * A replica group (Petal §2.4): orders the writes of the stripe units whose primary is server
 * `id` and whose secondary is the next server. A write sets the busy bit of its regions on the
 * primary's disk (once per region until a flush lets it be cleared), then writes both copies at
 * once. With one copy unreachable it writes the other alone and marks the regions stale there;
 * the missing server is reported to the control actor. Recovery (recovery.ts) copies marked
 * regions back when a server returns, holding each region against writes while it copies.
 */
export function replicaGroup(options: GroupOptions): Behavior<Message> {
  return (context: ActorContext): Actor<Message> => {
    const { primary, secondary } = options;
    const asker = new Asker(context, options.requestTimeoutMs);
    const termClaim = new TermClaim(context, options.name, options.requestTimeoutMs, (term) =>
      asker.fenceWith({ group: options.name, term }),
    );
    termClaim.start();
    const locks = new RegionLocks();
    const outConfirmation = new OutConfirmation(
      {
        isWritable: (server) => writable(state(server)),
        setTimer: (delayMs, ref) => context.setTimer(delayMs, { op: 'confirm-deadline', ref }),
      },
      options.requestTimeoutMs / 2,
    );
    const control = address(context.self.node, 'control');
    const groupView = new GroupView(context, options.requestTimeoutMs, (next) =>
      outConfirmation.onView(next.servers.map((server) => server.id)),
    );
    const state = (server: number): ServerState | undefined => groupView.state(server);
    const restarted = groupView.restarted;
    /**
     * A group that restarted has no incarnations to compare. In the daemon it shares its primary's
     * worker thread, so it restarted because that thread died, with the primary's server and disk:
     * the primary counts as restarted, and recovery copies busy regions from the secondary (sim
     * --thread-deaths seed 335: the fresh group copied the restarted primary over the secondary,
     * and a write a read had seen there was lost). A view cannot say which: a restarted control
     * actor shows every server resyncing.
     */
    if (context.incarnation > 0 || options.successor) restarted.add(primary);

    /**
     * Regions (`gmap:region`) where a write failed after reaching some copy: the copies may differ
     * with no stale mark to say how, so the busy bit stays until recovery has made them equal.
     */
    const unsettled = new Map<string, number | undefined>();
    const ledger = new FlushLedger();
    const lagHandles = [...(options.lagHandles ?? [])];
    const background = new Background();
    const trailing = new TrailingWrites();

    const suspicions = new GroupSuspicions(context, control, (server) => writable(state(server)));
    let changes = 0;
    const markBook = new MarkBook(asker, () => (changes += 1));
    const suspect = (server: number, reply: DiskReply): void => {
      if (reply.ok) return;
      changes += 1;
      suspicions.suspect(server, `${reply.code}: ${reply.message}`, reply.code);
    };

    const completeness = new Completeness({
      group: options.name,
      primary,
      secondary,
      incarnation: context.incarnation,
      view: () => groupView.view,
      markBook,
      restarted,
      awaiting: (server) => recovery.awaiting(server),
    });
    const recovery = new Recovery({
      group: options.name,
      primary,
      secondary,
      servers: options.servers,
      context,
      asker,
      locks,
      copyHandles: options.copyHandles,
      view: () => groupView.view,
      refreshView: () => groupView.refresh(),
      changes: () => changes,
      suspected: () => suspicions.servers(),
      restarted,
      unsettled,
      staleMarksSettled: (server) => completeness.staleSettled.add(server),
      knownStale: () => markBook.knownStale([primary, secondary]),
      clearMarks: (server, kind, gmap, regions, then) => markBook.clear(server, kind, gmap, regions, then),
    });
    const flusher = new GroupFlush({
      name: options.name,
      primary,
      secondary,
      busyRegionsMax: options.busyRegionsMax ?? busyRegionsMaxDefault,
      context,
      asker,
      ledger,
      background,
      completeness,
      markBook,
      locks,
      restarted,
      unsettled,
      writable: (server) => writable(state(server)),
      suspect,
      reconcile: () => recovery.reconcile(),
    });

    /**
     * Marks to set (durably) before writing: the busy bit on the primary. A copy written alone
     * gets its stale marks with the write instead (`writeAlone`).
     */
    const marksFor = (body: GroupWrite, targets: readonly number[]): Array<{ server: number; kind: MarkKind }> =>
      body.replicas === 2 && targets.includes(primary) ? [{ server: primary, kind: 'busy' }] : [];

    const copyWrites = new CopyWrites({
      primary,
      secondary,
      requestTimeoutMs: options.requestTimeoutMs,
      context,
      asker,
      ledger,
      flusher,
      completeness,
      markBook,
      suspect,
    });
    const writeDeps: WriteOpDeps = {
      name: options.name,
      context,
      completeness,
      locks,
      outConfirmation,
      trailing,
      lagHandles,
      unsettled,
      reconcile: () => recovery.reconcile(),
      background,
      markBook,
      suspect,
      writable: (server) => writable(state(server)),
      marksFor: (body, targets) => marksFor(body, targets),
      writeCopies: (body, targets, skipped, regions, done, early, answeredEarly) =>
        copyWrites.writeCopies(body, targets, skipped, regions, done, early, answeredEarly),
      writeAlone: (body, server, skipped, regions, done) => copyWrites.writeAlone(body, server, skipped, regions, done),
    };
    /** Admits a write whose regions are free: refused at once with no copy to write, else a WriteOp. */
    const startWrite = (request: Request, body: GroupWrite, keys: readonly string[]): void => {
      const copies = body.replicas === 1 ? [primary] : [primary, secondary];
      const targets = copies.filter((server) => writable(state(server)));
      if (targets.length === 0) {
        return context.reply(request, {
          ok: false,
          code: 'WHORL_IO',
          message: `no copy of blocks ${body.block}+${body.count} is reachable (servers ${copies.join(', ')} are down)`,
        } satisfies Failure);
      }
      const regions = regionsOf(body.block, body.count);
      const lone =
        body.replicas === 2 && targets.length === 1
          ? completeness.aloneUnsafe(targets[0]!, body.gmap, regions)
          : undefined;
      if (lone)
        return context.reply(request, {
          ok: false,
          code: 'WHORL_IO',
          message: `blocks ${body.block}+${body.count}: ${lone}`,
        } satisfies Failure);
      locks.begin(keys);
      new WriteOp(writeDeps, request, body, keys, copies, targets, regions).start();
    };

    const onRequest = (request: Request): void => {
      const body = request.body;
      switch (body.op) {
        case 'write':
        case 'trim': {
          // Just started: until the control actor's view comes, it cannot tell which copies are up.
          if (!groupView.view)
            return context.reply(request, {
              ok: false,
              code: 'WHORL_NOT_READY',
              message: `${options.name} has no view of the cluster yet`,
            } satisfies Failure);
          const keys = regionsOf(body.block, body.count).map((region) => regionKey(body.gmap, region));
          return trailing.after(keys, () => locks.whenFree(keys, () => startWrite(request, body, keys)));
        }
        case 'flush':
          return flusher.flush(request, body.token);
        case 'flushed':
          context.reply(request, { ok: true });
          return flusher.flushed(body.token);
        default:
          return assertNever(body, 'group request');
      }
    };

    const onTell = (body: Message): void => {
      if ('op' in body) {
        if (body.op === 'flushed') flusher.flushed(body.token);
        if (body.op === 'own-written') copyWrites.ownCopyWritten(body.ref);
        return;
      }
      switch (body.type) {
        case 'view':
          groupView.adopt(body.view);
          // Every view is looked at: the server may be back (resyncing) by the next suspect retry.
          suspicions.forgetOut();
          return recovery.onView();
        case 'recover':
          return recovery.request(body.server, body.round);
        default:
          return assertNever(body, 'push');
      }
    };

    groupView.refresh();

    return {
      receive(incoming: Incoming_): void {
        switch (incoming.kind) {
          case 'request':
            return onRequest(incoming as Request);
          case 'tell':
            return onTell(incoming.body);
          case 'reply':
            if (termClaim.onReply(incoming.requestId, incoming.body)) return;
            if (groupView.onReply(incoming.requestId, incoming.body)) return;
            asker.settle(incoming.requestId, incoming.body as DiskReply);
            return;
          case 'failure':
            if (termClaim.onFailure(incoming.requestId)) return;
            if (groupView.onFailure(incoming.requestId)) return;
            asker.settle(incoming.requestId, { ok: false, code: incoming.code, message: incoming.reason });
            return;
          case 'timer': {
            const timer = incoming.body as { op?: string; ref?: number };
            if (timer.op === 'suspect-retry') return suspicions.retry();
            if (timer.op === 'term-retry') return termClaim.start();
            if (timer.op === 'confirm-deadline' && outConfirmation.onTimer(timer.ref!)) return;
            if (timer.op === 'deadline') return copyWrites.deadlinePassed(timer.ref!);
            return recovery.onTimer();
          }
          case 'flushed':
            return;
          default:
            return assertNever(incoming, 'incoming');
        }
      },
    };
  };
}
