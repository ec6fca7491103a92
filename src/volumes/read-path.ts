import type { BufferHandle } from '../actors/buffer-pool.js';
import { isServerFailure } from '../groups/asker.js';
import { withBase, type ClusterView, type ExportTarget } from '../model/catalog.js';
import { ordererOf, replicasOf, type Piece } from '../model/layout.js';
import type { ServerReplyTo, ServerRequest } from '../servers/server-protocol.js';
import type { DirectReads } from '../storage/direct-reads.js';
import type { DiskReply } from '../storage/disk-protocol.js';
import { nearestFirst, returning } from './read-placement.js';
import { routerFailure } from './router-failure.js';
import type { RouterMailbox } from './router-mailbox.js';

/**
 * The largest piece read on the front end's thread: a stripe unit of up to 1 MiB. Skipping the two
 * thread hand-offs per piece cut a 1 MiB read's CPU by a third and ran it 13–20 % faster than
 * leaving pieces over 8 blocks to the workers (BENCHMARKS.md, "The floor"). Larger units still
 * spread their copies and checksums over the workers.
 */
export const directBlocksMax = 256;

/** How often a read with no readable copy looks again, besides at every view. */
const readableRecheckMs = 250;

/** What the read path needs of its router. */
export interface ReadPathDeps {
  readonly options: { readonly readTimeoutMs: number; readonly direct?: DirectReads | undefined };
  readonly mailbox: RouterMailbox;
  /** Requests in flight per server (writes count too): a read goes to the shorter queue. */
  readonly queueDepth: number[];
  view(): ClusterView | undefined;
  /** The disk or snapshot an export name stands for in the current view. */
  target(name: string): ExportTarget | undefined;
  /** The copies of a piece a read may use now (read-placement.ts; a broken variant in the simulator). */
  readableNow(disk: ExportTarget, piece: Piece): number[];
  server<Body extends ServerRequest>(
    server: number,
    body: Body,
    timeoutMs: number,
    toIncarnation?: number,
  ): Promise<ServerReplyTo<Body>>;
  suspect(server: number, reply: DiskReply): void;
  /** Asks about lagging writes whose caught-up tell is overdue (router.ts). */
  askOverdueLag(): void;
}

/**
 * The router's reads and allocation queries: which copy (readable, on this host first, then the
 * shorter queue), read directly on the front end's thread where it can be, else through the
 * server pinned to the incarnation the view knows, the other copy tried when a server fails, and
 * a wait for a copy that may soon become readable.
 */
export class ReadPath {
  constructor(private readonly deps: ReadPathDeps) {}

  async read(disk: ExportTarget, piece: Piece, handle: BufferHandle): Promise<number[]> {
    const replicas = replicasOf(disk, piece.unit);
    // A copy on this host first (across hosts: no network), then the shorter queue.
    const far = (server: number): number => (this.deps.options.direct?.holds(server) === false ? 1 : 0);
    const readable = this.deps.readableNow(disk, piece);
    const candidates = nearestFirst(
      readable.length > 0 ? readable : await this.readableCopies(disk, piece),
      far,
      this.deps.queueDepth,
    );
    const nearest = candidates[0];
    if (nearest !== undefined && piece.count <= directBlocksMax && this.deps.options.direct) {
      const now = this.current(disk);
      const read = {
        gmap: now.gmap,
        epoch: now.epoch,
        block: piece.block,
        count: piece.count,
        based: now.base.length > 0,
      };
      const holes = this.deps.options.direct.read(nearest, read, this.deps.mailbox.context.view(handle));
      if (holes) return holes;
    }
    let last: DiskReply | undefined;
    for (const server of candidates) {
      const now = this.current(disk);
      this.deps.queueDepth[server]! += 1;
      const reply = await this.deps.server(
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
        this.deps.options.readTimeoutMs,
        this.viewedIncarnation(server),
      );
      this.deps.queueDepth[server]! -= 1;
      if (reply.ok) return reply.holes ?? [];
      last = reply;
      if (isServerFailure(reply)) this.deps.suspect(server, reply);
      else if (reply.code !== 'WHORL_CHECKSUM') break;
    }
    throw routerFailure(
      last,
      `no readable copy of disk '${disk.name}' blocks ${piece.block}+${piece.count} (servers ${replicas.join(', ')})`,
    );
  }

  /** Runs where the data of blocks [block, block + count) of one unit is allocated. */
  async allocated(disk: ExportTarget, piece: Piece): Promise<Array<[number, number]>> {
    for (const server of await this.readableCopies(disk, piece)) {
      const now = this.current(disk);
      const reply = await this.deps.server(
        server,
        {
          op: 'allocated',
          gmap: now.gmap,
          epoch: now.epoch,
          block: piece.block,
          count: piece.count,
          ...withBase(now),
        } as const,
        this.deps.options.readTimeoutMs,
        this.viewedIncarnation(server),
      );
      if (reply.ok) return reply.runs ?? [];
    }
    // Nobody can say: report data, which is always a safe answer.
    return [[piece.block, piece.count]];
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
    const deadline = this.deps.mailbox.context.now() + this.deps.options.readTimeoutMs;
    for (;;) {
      const replicas = replicasOf(disk, piece.unit);
      const copies = this.deps.readableNow(disk, piece);
      const leftMs = deadline - this.deps.mailbox.context.now();
      if (copies.length > 0 || leftMs <= 0 || !returning(this.deps.view(), replicas, ordererOf(disk, piece.unit)))
        return copies;
      this.deps.askOverdueLag();
      await this.deps.mailbox.sleep(Math.min(readableRecheckMs, leftMs), true);
    }
  }

  /**
   * An export as the view shows it now, for a request sent after a wait: a read may outlive its
   * disk's epoch (a restarted control actor moves a disk to its reserved epoch), and one at the old
   * epoch would miss every write since.
   */
  private current(disk: ExportTarget): ExportTarget {
    return this.deps.target(disk.name) ?? disk;
  }

  /**
   * The incarnation of a server the view knows, which a read pins: a server restarted since (its
   * disk may have lost unflushed writes its partner holds) refuses the read instead of serving it
   * before the control actor has sent it through resync.
   */
  private viewedIncarnation(server: number): number | undefined {
    const incarnation = this.deps.view()?.servers[server]?.incarnation;
    return incarnation !== undefined && incarnation >= 0 ? incarnation : undefined;
  }
}
