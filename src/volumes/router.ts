import type { BufferHandle } from '../actors/buffer-pool.js';
import type { ActorRuntime } from '../actors/runtime.js';
import { type ClusterView, type ExportTarget, type VirtualDisk } from '../model/catalog.js';
import type { ControlPush, ControlReply, ControlRequest } from '../control/control-protocol.js';
import type { CaughtUp, GroupReplyTo, GroupRequest } from '../groups/group-protocol.js';
import type { DiskReply, DiskReplyTo, DiskRequest } from '../storage/disk-protocol.js';
import type { ServerReplyTo, ServerRequest } from '../servers/server-protocol.js';
import { ordererOf, replicasOf, type Piece } from '../model/layout.js';
import { Lag } from './lag.js';
import { Suspicions } from './suspicions.js';
import type { DirectReads } from '../storage/direct-reads.js';
import { holdersKey, LostWrites } from './lost-writes.js';
import { ControlClient } from './control-client.js';
import { FlushCoordinator } from './flush-coordinator.js';
import { readableNow } from './read-placement.js';
import { DiskSessions } from './disk-sessions.js';
import { askGroup } from './group-asks.js';
import { ReadPath } from './read-path.js';
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

export { directBlocksMax } from './read-path.js';

/**
 * Petal's client role, on the front end's thread: sends each piece of a request to the actors
 * that hold it — reads to the readable replica with the shorter queue (retrying the other when a
 * server fails), writes and trims to the unit's replica group — and FLUSH to every group. Learns
 * the ClusterView from the control actor's pushes.
 */
export class Router {
  private readonly queueDepth: number[];
  protected readonly suspicions = new Suspicions();
  /** Per disk: its write gate and its clients' connections. */
  readonly sessions = new DiskSessions();
  protected readonly lag = new Lag();
  private readonly lost = new LostWrites();
  private readonly controlClient: ControlClient;
  private readonly flusher: FlushCoordinator;
  private readonly mailbox: RouterMailbox;
  private readonly reads: ReadPath;

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
    const { mailbox, queueDepth } = this;
    this.reads = new ReadPath({
      options,
      mailbox,
      queueDepth,
      view: () => this.view,
      target: (name) => this.target(name),
      readableNow: (disk, piece) => this.readableNow(disk, piece),
      server: (server, body, timeoutMs, toIncarnation) => this.server(server, body, timeoutMs, toIncarnation),
      suspect: (server, reply) => this.suspect(server, reply),
      askOverdueLag: () => this.askOverdueLag(),
    });
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

  /** Reads a piece into `handle`; resolves with the blocks that read as zeros (read-path.ts). */
  read(disk: ExportTarget, piece: Piece, handle: BufferHandle): Promise<number[]> {
    return this.reads.read(disk, piece, handle);
  }

  /** Runs where the data of blocks [block, block + count) of one unit is allocated. */
  allocated(disk: ExportTarget, piece: Piece): Promise<Array<[number, number]>> {
    return this.reads.allocated(disk, piece);
  }

  async write(disk: ExportTarget, body: Extract<GroupRequest, { op: 'write' | 'trim' }>, unit: number): Promise<void> {
    const replicas = replicasOf(disk, unit);
    const duplication = this.sessions.duplicationOf(disk.disk);
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
      const { gmap, block, count } = body;
      this.lag.add(
        { group: ordererOf(disk, unit), incarnation, seq, gmap, block, count, server },
        this.mailbox.context.now(),
      );
    }
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

  /** Asks a replica group (group-asks.ts): across nodes, again while it moves. */
  private askGroup<Body extends GroupRequest>(
    group: string,
    body: Body,
    timeoutMs: number,
  ): Promise<GroupReplyTo<Body['op']>> {
    return askGroup(this.mailbox, group, body, timeoutMs, Boolean(this.options.subscribeEveryMs));
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
