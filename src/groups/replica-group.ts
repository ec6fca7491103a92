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
import type { GroupReplyTo, GroupRequest, GroupWrite } from './group-protocol.js';
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
import { admitWrite, type WriteOpDeps } from './write-op.js';
import { GroupView } from './group-view.js';
import { CopyWrites } from './copy-writes.js';
import { regionKey } from '../model/region-key.js';
import { busyRegionsMaxDefault, type GroupOptions } from './group-options.js';
import { answerLagCheck } from './lag-check.js';

export type { GroupOptions } from './group-options.js';

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
  return (context: ActorContext): Actor<Message> => new ReplicaGroup(options, context);
}

/**
 * One incarnation of a replica group: its collaborators, each owning one concept (the view, the
 * account of complete copies, the FLUSH path, writes and their copies, recovery), and the
 * dispatch of what arrives to them.
 */
class ReplicaGroup implements Actor<Message> {
  private readonly primary: number;
  private readonly secondary: number;
  private readonly asker: Asker;
  private readonly termClaim: TermClaim;
  private readonly locks = new RegionLocks();
  private readonly outConfirmation: OutConfirmation;
  private readonly groupView: GroupView;
  /**
   * Regions (`gmap:region`) where a write failed after reaching some copy: the copies may differ
   * with no stale mark to say how, so the busy bit stays until recovery has made them equal.
   */
  private readonly unsettled = new Map<string, number | undefined>();
  private readonly ledger = new FlushLedger();
  private readonly lagHandles: BufferHandle[];
  private readonly background = new Background();
  private readonly trailing = new TrailingWrites();
  private readonly suspicions: GroupSuspicions;
  /** Counts the stale marks set and servers suspected (a recovery pass planned before one replans). */
  private changes = 0;
  private readonly markBook: MarkBook;
  private readonly completeness: Completeness;
  private readonly recovery: Recovery;
  private readonly flusher: GroupFlush;
  private readonly copyWrites: CopyWrites;
  private readonly writeDeps: WriteOpDeps;

  constructor(
    private readonly options: GroupOptions,
    private readonly context: ActorContext,
  ) {
    this.primary = options.primary;
    this.secondary = options.secondary;
    this.asker = new Asker(context, options.requestTimeoutMs);
    this.termClaim = new TermClaim(context, options.name, options.requestTimeoutMs, (term) =>
      this.asker.fenceWith({ group: options.name, term }),
    );
    this.termClaim.start();
    this.outConfirmation = new OutConfirmation(
      {
        isWritable: (server) => this.writable(server),
        setTimer: (delayMs, ref) => context.setTimer(delayMs, { op: 'confirm-deadline', ref }),
      },
      options.requestTimeoutMs / 2,
    );
    this.groupView = new GroupView(context, options.requestTimeoutMs, (next) =>
      this.outConfirmation.onView(next.servers.map((server) => server.id)),
    );
    /**
     * A group that restarted has no incarnations to compare. In the daemon it shares its primary's
     * worker thread, so it restarted because that thread died, with the primary's server and disk:
     * the primary counts as restarted, and recovery copies busy regions from the secondary (sim
     * --thread-deaths seed 335: the fresh group copied the restarted primary over the secondary,
     * and a write a read had seen there was lost). A view cannot say which: a restarted control
     * actor shows every server resyncing.
     */
    if (context.incarnation > 0 || options.successor) this.groupView.restarted.add(this.primary);
    this.lagHandles = [...(options.lagHandles ?? [])];
    const control = address(context.self.node, 'control');
    this.suspicions = new GroupSuspicions(context, control, (server) => this.writable(server));
    this.markBook = new MarkBook(this.asker, () => (this.changes += 1));
    this.completeness = this.newCompleteness();
    this.recovery = this.newRecovery();
    this.flusher = this.newFlusher();
    this.copyWrites = this.newCopyWrites();
    this.writeDeps = this.newWriteDeps();
    this.groupView.refresh();
  }

  receive(incoming: Incoming_): void {
    switch (incoming.kind) {
      case 'request':
        return this.onRequest(incoming as Request);
      case 'tell':
        return this.onTell(incoming.body);
      case 'reply':
        if (this.termClaim.onReply(incoming.requestId, incoming.body)) return;
        if (this.groupView.onReply(incoming.requestId, incoming.body)) return;
        this.asker.settle(incoming.requestId, incoming.body as DiskReply);
        return;
      case 'failure':
        if (this.termClaim.onFailure(incoming.requestId)) return;
        if (this.groupView.onFailure(incoming.requestId)) return;
        this.asker.settle(incoming.requestId, { ok: false, code: incoming.code, message: incoming.reason });
        return;
      case 'timer':
        return this.onTimer(incoming.body as { op?: string; ref?: number });
      case 'flushed':
        return;
      default:
        return assertNever(incoming, 'incoming');
    }
  }

  private onRequest(request: Request): void {
    const body = request.body;
    switch (body.op) {
      case 'write':
      case 'trim': {
        // Just started: until the control actor's view comes, it cannot tell which copies are up.
        if (!this.groupView.view)
          return this.context.reply(request, {
            ok: false,
            code: 'WHORL_NOT_READY',
            message: `${this.options.name} has no view of the cluster yet`,
          } satisfies Failure);
        const keys = regionsOf(body.block, body.count).map((region) => regionKey(body.gmap, region));
        return this.trailing.after(keys, () =>
          this.locks.whenFree(keys, () =>
            admitWrite(this.writeDeps, request, body, keys, [this.primary, this.secondary]),
          ),
        );
      }
      case 'flush':
        return this.flusher.flush(request, body.token);
      case 'flushed':
        this.context.reply(request, { ok: true });
        return this.flusher.flushed(body.token);
      case 'lag-check':
        return this.context.reply(request, this.lagCheck(body));
      default:
        return assertNever(body, 'group request');
    }
  }

  private onTell(body: Message): void {
    if ('op' in body) {
      if (body.op === 'flushed') this.flusher.flushed(body.token);
      if (body.op === 'own-written') this.copyWrites.ownCopyWritten(body.ref);
      return;
    }
    switch (body.type) {
      case 'view':
        this.groupView.adopt(body.view);
        // Every view is looked at: the server may be back (resyncing) by the next suspect retry.
        this.suspicions.forgetOut();
        return this.recovery.onView();
      case 'recover':
        return this.recovery.request(body.server, body.round);
      default:
        return assertNever(body, 'push');
    }
  }

  private onTimer(timer: { op?: string; ref?: number }): void {
    if (timer.op === 'suspect-retry') return this.suspicions.retry();
    if (timer.op === 'term-retry') return this.termClaim.start();
    if (timer.op === 'confirm-deadline' && this.outConfirmation.onTimer(timer.ref!)) return;
    if (timer.op === 'deadline') return this.copyWrites.deadlinePassed(timer.ref!);
    return this.recovery.onTimer();
  }

  private lagCheck(body: Extract<GroupRequest, { op: 'lag-check' }>): GroupReplyTo<'lag-check'> {
    const { primary, secondary, background, completeness } = this;
    return answerLagCheck(body, {
      incarnation: this.context.incarnation,
      primary,
      secondary,
      background,
      completeness,
    });
  }

  /**
   * Marks to set (durably) before writing: the busy bit on the primary. A copy written alone
   * gets its stale marks with the write instead (`writeAlone`).
   */
  private marksFor(body: GroupWrite, targets: readonly number[]): Array<{ server: number; kind: MarkKind }> {
    return body.replicas === 2 && targets.includes(this.primary) ? [{ server: this.primary, kind: 'busy' }] : [];
  }

  private writable(server: number): boolean {
    return writable(this.state(server));
  }

  private state(server: number): ServerState | undefined {
    return this.groupView.state(server);
  }

  private suspect(server: number, reply: DiskReply): void {
    if (reply.ok) return;
    this.changes += 1;
    this.suspicions.suspect(server, `${reply.code}: ${reply.message}`, reply.code);
  }

  private newCompleteness(): Completeness {
    return new Completeness({
      group: this.options.name,
      primary: this.primary,
      secondary: this.secondary,
      incarnation: this.context.incarnation,
      view: () => this.groupView.view,
      markBook: this.markBook,
      restarted: this.groupView.restarted,
      unsettled: this.unsettled,
      awaiting: (server) => this.recovery.awaiting(server),
    });
  }

  private newRecovery(): Recovery {
    const { primary, secondary, markBook } = this;
    return new Recovery({
      group: this.options.name,
      primary,
      secondary,
      servers: this.options.servers,
      context: this.context,
      asker: this.asker,
      locks: this.locks,
      copyHandles: this.options.copyHandles,
      view: () => this.groupView.view,
      refreshView: () => this.groupView.refresh(),
      changes: () => this.changes,
      suspected: () => this.suspicions.servers(),
      restarted: this.groupView.restarted,
      unsettled: this.unsettled,
      staleMarksSettled: (server) => this.completeness.staleSettled.add(server),
      knownStale: () => markBook.knownStale([primary, secondary]),
      clearMarks: (server, kind, gmap, regions, then) => markBook.clear(server, kind, gmap, regions, then),
    });
  }

  private newFlusher(): GroupFlush {
    return new GroupFlush({
      name: this.options.name,
      primary: this.primary,
      secondary: this.secondary,
      busyRegionsMax: this.options.busyRegionsMax ?? busyRegionsMaxDefault,
      context: this.context,
      asker: this.asker,
      ledger: this.ledger,
      background: this.background,
      completeness: this.completeness,
      markBook: this.markBook,
      locks: this.locks,
      restarted: this.groupView.restarted,
      unsettled: this.unsettled,
      writable: (server) => this.writable(server),
      suspect: (server, reply) => this.suspect(server, reply),
      reconcile: () => this.recovery.reconcile(),
    });
  }

  private newCopyWrites(): CopyWrites {
    return new CopyWrites({
      primary: this.primary,
      secondary: this.secondary,
      requestTimeoutMs: this.options.requestTimeoutMs,
      context: this.context,
      asker: this.asker,
      ledger: this.ledger,
      flusher: this.flusher,
      completeness: this.completeness,
      markBook: this.markBook,
      suspect: (server, reply) => this.suspect(server, reply),
    });
  }

  private newWriteDeps(): WriteOpDeps {
    const copyWrites = this.copyWrites;
    return {
      name: this.options.name,
      context: this.context,
      completeness: this.completeness,
      locks: this.locks,
      outConfirmation: this.outConfirmation,
      trailing: this.trailing,
      lagHandles: this.lagHandles,
      unsettled: this.unsettled,
      reconcile: () => this.recovery.reconcile(),
      background: this.background,
      markBook: this.markBook,
      suspect: (server, reply) => this.suspect(server, reply),
      writable: (server) => this.writable(server),
      marksFor: (body, targets) => this.marksFor(body, targets),
      writeCopies: (body, targets, skipped, regions, done, early, answeredEarly) =>
        copyWrites.writeCopies(body, targets, skipped, regions, done, early, answeredEarly),
      writeAlone: (body, server, skipped, regions, done) => copyWrites.writeAlone(body, server, skipped, regions, done),
    };
  }
}
