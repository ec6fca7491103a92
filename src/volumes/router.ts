import type { BufferHandle } from '../actors/buffer-pool.js';
import type { ActorRuntime } from '../actors/runtime.js';
import { withBase, type ClusterView, type ExportTarget, type VirtualDisk } from '../model/catalog.js';
import type { ControlPush, ControlReply, ControlRequest } from '../control/control-protocol.js';
import type { CaughtUp, Duplication, GroupReplyTo, GroupRequest } from '../groups/group-protocol.js';
import { isServerFailure } from '../groups/asker.js';
import type { DiskReply, DiskReplyTo, DiskRequest } from '../storage/disk-protocol.js';
import type { ServerReplyTo, ServerRequest } from '../servers/server-protocol.js';
import { ordererOf, replicasOf, type Piece } from '../model/layout.js';
import { Lag } from './lag.js';
import { WriteGate } from './write-gate.js';
import { Suspicions } from './suspicions.js';
import type { DirectReads } from '../storage/direct-reads.js';
import { holdersKey, LostWrites } from './lost-writes.js';
import { ControlClient } from './control-client.js';
import { FlushCoordinator } from './flush-coordinator.js';
import { duplicationFor, nearestFirst, readableNow, returning } from './read-placement.js';
import { routerFailure } from './router-failure.js';
import { RouterMailbox } from './router-mailbox.js';

/** What the router needs of its runtime (the simulator provides the same two). */
export type RouterHost = Pick<ActorRuntime, 'spawnLocal' | 'onThreadDeath'>;

export interface RouterOptions {
  readonly servers: number;
  readonly readTimeoutMs: number;
  readonly writeTimeoutMs: number;
  /** Every replica and mirror group: a FLUSH asks them all. */
  readonly orderers: readonly string[];
  /** Reads of the disks on this thread, where the disks' files are at hand (direct-reads.ts). */
  readonly direct?: DirectReads;
  /**
   * When the control actor runs on another node: how often to (re)subscribe to its views. It keeps
   * its subscribers in memory, so one started anew on another node learns of this router again.
   */
  readonly subscribeEveryMs?: number;
}

/**
 * The largest piece read on the front end's thread: a stripe unit of up to 1 MiB. Skipping the two
 * thread hand-offs per piece cut a 1 MiB read's CPU by a third and ran it 13–20 % faster than
 * leaving pieces over 8 blocks to the workers (BENCHMARKS.md, "The floor"). Larger units still
 * spread their copies and checksums over the workers.
 */
export const directBlocksMax = 256;

/** How soon a request to a group that is moving between nodes is sent again. */
const groupRetryMs = 100;
/** What a group that is moving answers: not reachable, not on that node (yet), no view yet. */
const groupMoving = new Set<string>(['WHORL_UNREACHABLE', 'WHORL_ACTOR_STOPPED', 'WHORL_NOT_READY']);

/** How often a read with no readable copy looks again, besides at every view. */
const readableRecheckMs = 250;

/**
 * Petal's client role, on the front end's thread: sends each piece of a request to the actors
 * that hold it — reads to the readable replica with the shorter queue (retrying the other when a
 * server fails), writes and trims to the unit's replica group — and FLUSH to every group. Learns
 * the ClusterView from the control actor's pushes.
 */
export class Router {
  private readonly queueDepth: number[];
  protected readonly suspicions = new Suspicions();
  private readonly gates = new Map<string, WriteGate>();
  private readonly attached = new Map<string, number>();
  protected readonly lag = new Lag();
  private readonly lost = new LostWrites();
  private readonly controlClient: ControlClient;
  private readonly flusher: FlushCoordinator;
  private readonly mailbox: RouterMailbox;

  constructor(
    runtime: RouterHost,
    private readonly options: RouterOptions,
  ) {
    this.queueDepth = Array.from({ length: options.servers }, () => 0);
    runtime.onThreadDeath((actors) => this.threadDied(actors));
    this.controlClient = new ControlClient(
      (body, timeoutMs) => this.mailbox.ask('control', body, timeoutMs) as Promise<ControlReply>,
      (view) => {
        this.suspicions.onView(view);
        this.mailbox.wakeAll();
      },
      options.subscribeEveryMs,
    );
    this.flusher = new FlushCoordinator(
      options.orderers,
      this.lost,
      (group, body) => this.askGroup(group, body, options.writeTimeoutMs) as Promise<GroupReplyTo<'flush'>>,
      (group, body) => this.mailbox.tell(group, body),
    );
    this.mailbox = new RouterMailbox(
      (actor, behavior) => runtime.spawnLocal(actor, behavior),
      (body) => this.onTell(body as ControlPush | CaughtUp),
    );
  }

  get view(): ClusterView | undefined {
    return this.controlClient.view;
  }

  /** The disk named `name`; WHORL_EXPORT_NOT_FOUND if there is none (admin commands). */
  disk(name: string): VirtualDisk {
    return this.controlClient.disk(name);
  }

  /** The disk or snapshot an export name stands for (resolved once per view: every request asks). */
  target(name: string): ExportTarget | undefined {
    return this.controlClient.target(name);
  }

  /** The gate a disk's writes pass, closed while a snapshot changes its epoch. */
  writeGate(disk: string): WriteGate {
    let gate = this.gates.get(disk);
    if (!gate) {
      gate = new WriteGate();
      this.gates.set(disk, gate);
    }
    return gate;
  }

  /** NBD connections in transmission on a disk (the front end counts them; hybrid duplication reads them). */
  connections(name: string): number {
    return this.attached.get(name) ?? 0;
  }

  attach(name: string, delta: 1 | -1): void {
    this.attached.set(name, Math.max(0, this.connections(name) + delta));
  }

  /** How a mirror disk's writes are duplicated now (read-placement.ts). */
  duplicationOf(disk: VirtualDisk): Duplication | undefined {
    return duplicationFor(disk, this.connections(disk.name));
  }

  /** Bytes of a disk's writes answered while one copy is still being written (async duplication). */
  lagBytes(disk: VirtualDisk): number {
    return this.lag.bytes(disk.gmap);
  }

  /** Writes to `disk` answered while a mirror copy was still being written (async protocols). */
  answeredEarly(disk: VirtualDisk): number {
    return this.lag.answeredEarly(disk.gmap);
  }

  /** Asks the control actor (admin commands, start-up). */
  control(body: ControlRequest, timeoutMs = 10_000): Promise<ControlReply> {
    return this.controlClient.control(body, timeoutMs);
  }

  async read(disk: ExportTarget, piece: Piece, handle: BufferHandle): Promise<number[]> {
    const replicas = replicasOf(disk, piece.unit);
    // A copy on this host first (across hosts: no network), then the shorter queue.
    const far = (server: number): number => (this.options.direct?.holds(server) === false ? 1 : 0);
    const readable = this.readableNow(disk, piece);
    const candidates = nearestFirst(
      readable.length > 0 ? readable : await this.readableCopies(disk, piece),
      far,
      this.queueDepth,
    );
    const nearest = candidates[0];
    if (nearest !== undefined && piece.count <= directBlocksMax && this.options.direct) {
      const now = this.current(disk);
      const read = {
        gmap: now.gmap,
        epoch: now.epoch,
        block: piece.block,
        count: piece.count,
        based: now.base.length > 0,
      };
      const holes = this.options.direct.read(nearest, read, this.mailbox.context.view(handle));
      if (holes) return holes;
    }
    let last: DiskReply | undefined;
    for (const server of candidates) {
      const now = this.current(disk);
      this.queueDepth[server]! += 1;
      const reply = await this.server(
        server,
        {
          op: 'read',
          gmap: now.gmap,
          epoch: now.epoch,
          block: piece.block,
          count: piece.count,
          handle,
          ...withBase(now),
        } as const,
        this.options.readTimeoutMs,
        this.viewedIncarnation(server),
      );
      this.queueDepth[server]! -= 1;
      if (reply.ok) return reply.holes ?? [];
      last = reply;
      if (isServerFailure(reply)) this.suspect(server, reply);
      else if (reply.code !== 'WHORL_CHECKSUM') break;
    }
    throw routerFailure(
      last,
      `no readable copy of disk '${disk.name}' blocks ${piece.block}+${piece.count} (servers ${replicas.join(', ')})`,
    );
  }

  async write(disk: ExportTarget, body: Extract<GroupRequest, { op: 'write' | 'trim' }>, unit: number): Promise<void> {
    const replicas = replicasOf(disk, unit);
    const duplication = this.duplicationOf(disk.disk);
    for (const server of replicas) this.queueDepth[server]! += 1;
    const deathsBefore = this.lost.deathsSoFar;
    const reply = await this.askGroup(
      ordererOf(disk, unit),
      duplication ? { ...body, duplication } : body,
      this.options.writeTimeoutMs,
    );
    for (const server of replicas) this.queueDepth[server]! -= 1;
    if (!reply.ok) throw routerFailure(reply, `${body.op} failed`);
    let holders = 0;
    for (const server of replicas)
      if (!reply.missed?.includes(server) && reply.lagging?.server !== server) holders = holdersKey(holders, server);
    this.lost.answeredBy(holders, deathsBefore);
    this.suspicions.missed(reply.missed);
    if (reply.lagging) {
      const { server, seq, incarnation } = reply.lagging;
      const write = {
        group: ordererOf(disk, unit),
        incarnation,
        seq,
        gmap: body.gmap,
        block: body.block,
        count: body.count,
      };
      this.lag.add({ ...write, server }, this.mailbox.context.now());
    }
  }

  /** Runs where the data of blocks [block, block + count) of one unit is allocated. */
  async allocated(disk: ExportTarget, piece: Piece): Promise<Array<[number, number]>> {
    for (const server of await this.readableCopies(disk, piece)) {
      const now = this.current(disk);
      const reply = await this.server(
        server,
        {
          op: 'allocated',
          gmap: now.gmap,
          epoch: now.epoch,
          block: piece.block,
          count: piece.count,
          ...withBase(now),
        } as const,
        this.options.readTimeoutMs,
        this.viewedIncarnation(server),
      );
      if (reply.ok) return reply.runs ?? [];
    }
    // Nobody can say: report data, which is always a safe answer.
    return [[piece.block, piece.count]];
  }

  /** FLUSH: every group flushes what it answered (flush-coordinator.ts); resolves with `complete`. */
  flush(): Promise<boolean> {
    this.askOverdueLag();
    return this.flusher.flush();
  }

  /** Times answered writes may have been lost unflushed (lost-writes.ts). */
  lostWrites(): number {
    return this.lost.count;
  }

  /** Asks a server's disk actor itself, not through its server actor (which may be gone). */
  async diskActor<Body extends DiskRequest>(
    server: number,
    body: Body,
    timeoutMs = 10_000,
  ): Promise<DiskReplyTo<Body['op']>> {
    return (await this.mailbox.ask(`disk-${server}`, body, timeoutMs)) as DiskReplyTo<Body['op']>;
  }

  /**
   * Asks a server actor, which passes disk requests to its disk (reads, admin statistics, replica
   * comparison in tests). The boundary where its reply, which arrives untyped, takes the type of
   * its request's kind.
   */
  async server<Body extends ServerRequest>(
    server: number,
    body: Body,
    timeoutMs = 10_000,
    toIncarnation?: number,
  ): Promise<ServerReplyTo<Body>> {
    return (await this.mailbox.ask(`server-${server}`, body, timeoutMs, toIncarnation)) as ServerReplyTo<Body>;
  }

  /** The boundary where a replica group's reply, which arrives untyped, takes its request's type. */
  private async askGroup<Body extends GroupRequest>(
    group: string,
    body: Body,
    timeoutMs: number,
  ): Promise<GroupReplyTo<Body['op']>> {
    const deadline = this.mailbox.context.now() + timeoutMs;
    for (;;) {
      const reply = (await this.mailbox.ask(group, body, timeoutMs)) as GroupReplyTo<Body['op']>;
      // Across nodes a group moves when its node goes (placement.ts): until this node learns where
      // it runs now, it is unreachable or not there. Clients see a stall, not an error.
      // A group that is not ready (no view yet, or its copies changed while the write waited) is
      // asked again on one host too.
      const again =
        !reply.ok &&
        (reply.code === 'WHORL_NOT_READY' || (groupMoving.has(reply.code) && this.options.subscribeEveryMs));
      if (!again || this.mailbox.context.now() + groupRetryMs > deadline) return reply;
      await this.mailbox.sleep(groupRetryMs);
    }
  }

  /**
   * The copies of a piece a read may use. When none is but one may soon be (resyncing, down after
   * missed heartbeats, or lagging), it waits for a view or caught-up tell that makes one readable,
   * up to the read timeout, instead of failing at once: recovery usually brings a copy back in
   * moments. Copies an operator stopped come back only when told: the read fails at once. So does
   * a resyncing copy whose partner in this unit was stopped holding writes it lacks (not clean for
   * the unit's group): it cannot finish until that partner starts.
   */
  private async readableCopies(disk: ExportTarget, piece: Piece): Promise<number[]> {
    const deadline = this.mailbox.context.now() + this.options.readTimeoutMs;
    for (;;) {
      const replicas = replicasOf(disk, piece.unit);
      const copies = this.readableNow(disk, piece);
      const leftMs = deadline - this.mailbox.context.now();
      if (copies.length > 0 || leftMs <= 0 || !returning(this.view, replicas, ordererOf(disk, piece.unit)))
        return copies;
      this.askOverdueLag();
      await this.mailbox.sleep(Math.min(readableRecheckMs, leftMs), true);
    }
  }

  /** The copies of a piece a read may use now (no promise: the common case, on every read). */
  protected readableNow(disk: ExportTarget, piece: Piece): number[] {
    return readableNow(this.view, this.suspicions, this.lag, disk, piece);
  }

  private suspect(server: number, reply: DiskReply): void {
    if (reply.ok) return;
    this.mailbox.tell('control', {
      op: 'suspect',
      server,
      why: `router: ${reply.code}`,
      code: reply.code,
    } satisfies ControlRequest);
  }

  /**
   * An export as the view shows it now, for a request sent after a wait: a read may outlive its
   * disk's epoch (a restarted control actor moves a disk to its reserved epoch), and one at the old
   * epoch would miss every write since.
   */
  private current(disk: ExportTarget): ExportTarget {
    return this.target(disk.name) ?? disk;
  }

  /**
   * The incarnation of a server the view knows, which a read pins: a server restarted since (its
   * disk may have lost unflushed writes its partner holds) refuses the read instead of serving it
   * before the control actor has sent it through resync.
   */
  private viewedIncarnation(server: number): number | undefined {
    const incarnation = this.view?.servers[server]?.incarnation;
    return incarnation !== undefined && incarnation >= 0 ? incarnation : undefined;
  }

  /**
   * A worker thread died: writes answered from its disks alone may be lost (lost-writes.ts), and
   * its servers' copies, read directly or through their restarted actors, may lack unflushed writes
   * their partners hold. No read goes to them until the view has shown them through resync.
   */
  private threadDied(actors: ReadonlySet<string>): void {
    this.lost.threadDied(actors);
    const servers = [...actors].filter((actor) => actor.startsWith('server-')).map((actor) => Number(actor.slice(7)));
    this.suspicions.missed(servers);
  }

  /**
   * Asks the mirror groups about writes whose `caught-up` has not come within a write's timeout:
   * the tell may be lost (a connection dropped, a group died), and without it reads would keep off
   * the copy for good. An answer that the write has ended counts as its `caught-up`.
   */
  private askOverdueLag(): void {
    for (const write of this.lag.overdue(this.mailbox.context.now(), this.options.writeTimeoutMs)) {
      const { group, incarnation, seq, gmap, block, count } = write;
      const check = { op: 'lag-check', seq, incarnation, gmap, block, count } as const;
      void this.askGroup(group, check, this.options.writeTimeoutMs).then((reply) => {
        if (reply.ok && reply.caughtUp)
          this.onTell({ type: 'caught-up', group, incarnation, seq, missed: reply.missed });
      });
    }
  }

  /** A view pushed, or a mirror group's word that a lagging copy caught up. */
  private onTell(push: ControlPush | CaughtUp): void {
    if (push.type === 'view') this.controlClient.adopt(push.view);
    if (push.type === 'caught-up') {
      this.suspicions.missed(push.missed);
      this.lag.caughtUp(push.group, push.incarnation, push.seq);
      // A copy may have become readable: every waiting read looks again.
      this.mailbox.wakeAll();
    }
  }
}
