import type { MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import type { Behavior } from './actor.js';
import { addressKey, type Address } from './address.js';
import { ActorCell, type CellHost, type CellStorage } from './cell.js';
import type { Envelope } from './envelope.js';
import { failureFor } from './envelope.js';
import type { BufferHandle, BufferPool, SlabDescriptor } from './buffer-pool.js';
import { RingChannel, type RingChannelEnds } from './ring-channel.js';

/** Messages one drain runs before yielding to I/O. */
export const drainBatchMax = 1024;
/**
 * Runs the actors placed on one thread (a worker, or the main thread). Actors on the same thread
 * exchange messages through their mailboxes without crossing threads; envelopes for other threads
 * are encoded into a shared ring per peer and the ring is flushed once per tick, with a doorbell
only when the peer is idle (faster than batched postMessage: see BENCHMARKS.md).
 */
export class ThreadHost implements CellHost {
  private readonly cells = new Map<string, ActorCell>();
  private readonly runQueue: ActorCell[] = [];
  private drainScheduled = false;
  /** Which thread runs each actor that is not here. */
  private readonly placement = new Map<string, number>();
  private readonly peers = new Map<number, RingChannel>();
  private flushScheduled = false;
  /** Actors of this node's name space that run on another node (the cluster's directory). */
  private readonly elsewhere = new Map<string, string>();
  /** On the main thread of a node with peers: takes envelopes for actors of other nodes. */
  private remote: ((envelope: Envelope) => void) | undefined;

  constructor(
    readonly node: string,
    readonly thread: number,
    private readonly log_: Logger,
    /** This runtime's pool as this thread sees it (one process may run several runtimes). */
    private readonly pool: () => BufferPool,
  ) {}

  connectPeer(thread: number, port: MessagePort, ends: RingChannelEnds): void {
    this.peers.get(thread)?.close();
    const channel = new RingChannel(
      port,
      ends,
      (envelope) => this.route(envelope as Envelope),
      (slabs) => this.pool().attach(slabs),
      // Run what arrived now and send what it produced at once: no extra turn of the event loop
      // per hop, and a mailbox is drained before the next frames can fill it.
      () => {
        this.drain(drainBatchMax * 4);
        this.flushOutboxes();
      },
    );
    this.peers.set(thread, channel);
  }

  /**
   * Envelopes for other nodes go to `send` (the main thread's node links); worker threads pass
   * them to the main thread. Without it they are undeliverable, as to an actor that does not exist.
   */
  connectRemote(send: ((envelope: Envelope) => void) | undefined): void {
    this.remote = send;
  }

  /** A new shared slab: every peer learns of it before any envelope that could carry a handle into it. */
  announceSlab(slab: SlabDescriptor): void {
    for (const channel of this.peers.values()) channel.announceSlabs([slab]);
  }

  place(actor: string, thread: number | undefined): void {
    if (thread === undefined || thread === this.thread) this.placement.delete(actor);
    else this.placement.set(actor, thread);
    // A retired actor fails what it held itself; one restarted elsewhere (its thread died) cannot.
    if (thread !== undefined) for (const cell of this.cells.values()) cell.targetMoved(actor, thread);
  }

  /**
   * `actor` runs on `node` (undefined: not elsewhere any more). Envelopes addressed to it on this
   * node go there, unless it runs here: actors name each other without knowing which node runs them.
   */
  locate(actor: string, node: string | undefined): void {
    const before = this.elsewhere.get(actor) ?? this.node;
    if (node === undefined || node === this.node) this.elsewhere.delete(actor);
    else this.elsewhere.set(actor, node);
    const after = node ?? this.node;
    if (after !== before) for (const cell of this.cells.values()) cell.targetRelocated(actor, after);
  }

  nodeOf(to: Address): string | undefined {
    if (to.node !== this.node) return to.node;
    if (this.cells.has(to.actor) || this.placement.has(to.actor)) return this.node;
    return this.elsewhere.get(to.actor) ?? this.node;
  }

  threadOf(to: Address): number | undefined {
    if (to.node !== this.node) return undefined;
    return this.cells.has(to.actor) ? this.thread : this.placement.get(to.actor);
  }

  /** Stops one actor (what it holds fails WHORL_ACTOR_STOPPED) and closes its storage. */
  async retire(actor: string): Promise<void> {
    const cell = this.cells.get(actor);
    if (!cell) return;
    cell.stop();
    this.cells.delete(actor);
    this.flushOutboxes();
    await cell.storage.close?.();
  }

  spawn(actor: string, behavior: Behavior, storage: CellStorage, incarnation = 0): ActorCell {
    const cell = new ActorCell({ node: this.node, actor }, behavior, storage, this, incarnation);
    this.cells.set(actor, cell);
    this.placement.delete(actor);
    return cell;
  }

  /** Orderly stop: run what is queued, stop every actor, flush the outboxes, close storage. */
  async stopAll(): Promise<void> {
    this.drain(Infinity);
    for (const cell of this.cells.values()) cell.stop();
    this.flushOutboxes();
    await Promise.all([...this.cells.values()].map((cell) => cell.storage.close?.()));
  }

  // CellHost
  now(): number {
    return performance.now();
  }

  wallClockMs(): number {
    return Date.now();
  }

  random(): number {
    return Math.random();
  }

  route(envelope: Envelope): void {
    if (envelope.to.node !== this.node) return this.routeRemote(envelope);
    const local = this.cells.get(envelope.to.actor);
    if (local) return local.deliver(envelope);
    const thread = this.placement.get(envelope.to.actor);
    // Only this node's own envelopes follow the directory: one that came from another node for an
    // actor not here fails back to its sender (which asks again) rather than hop on (one hop each).
    const node =
      thread === undefined && envelope.from.node === this.node ? this.elsewhere.get(envelope.to.actor) : undefined;
    if (node !== undefined) return this.routeRemote({ ...envelope, to: { node, actor: envelope.to.actor } });
    this.toThread(envelope, thread);
  }

  private routeRemote(envelope: Envelope): void {
    if (this.remote) return this.remote(envelope);
    this.toThread(envelope, this.thread === 0 ? undefined : 0);
  }

  private toThread(envelope: Envelope, thread: number | undefined): void {
    const channel = thread === undefined ? undefined : this.peers.get(thread);
    if (!channel) return this.unreachable(envelope);
    channel.send(envelope);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushOutboxes());
    }
  }

  schedule(cell: ActorCell): void {
    this.runQueue.push(cell);
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => this.drain(drainBatchMax));
  }

  startTimer(delayMs: number, fire: () => void): unknown {
    return setTimeout(fire, delayMs);
  }

  cancelTimer(handle: unknown): void {
    if (handle) clearTimeout(handle as NodeJS.Timeout);
  }

  log(cell: ActorCell, event: string, fields: Record<string, unknown>): void {
    this.log_.info({ actor: cell.self.actor, incarnation: cell.incarnation, ...fields }, event);
  }

  releaseHandle(handle: BufferHandle): void {
    this.pool().release(handle);
  }

  viewHandle(handle: BufferHandle): Buffer {
    return this.pool().view(handle);
  }

  private drain(budget: number): void {
    this.drainScheduled = false;
    let ran = 0;
    while (this.runQueue.length > 0 && ran < budget) {
      const cell = this.runQueue.shift()!;
      if (cell.runOne()) this.runQueue.push(cell);
      ran += 1;
    }
    if (this.runQueue.length > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(() => this.drain(drainBatchMax));
    }
  }

  private flushOutboxes(): void {
    this.flushScheduled = false;
    for (const channel of this.peers.values()) channel.flush();
  }

  private unreachable(envelope: Envelope): void {
    this.log_.debug({ to: addressKey(envelope.to), kind: envelope.kind }, 'no such actor');
    if (envelope.kind === 'request') {
      const from: Address = envelope.to;
      this.route(failureFor(envelope, from, 'WHORL_ACTOR_STOPPED', `no actor ${addressKey(envelope.to)}`));
    }
  }
}
