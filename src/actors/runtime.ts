import os from 'node:os';
import { once } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { assert } from '../assert.js';
import type { LogFormat, Logger } from '../log.js';
import type { Behavior } from './actor.js';
import { loadBehavior, openStorage, type BehaviorSpec, type StorageSpec } from './behavior-spec.js';
import { BufferPool } from './buffer-pool.js';
import type { FromWorker, ToWorker } from './control.js';
import type { Envelope } from './envelope.js';
import { MemoryStorage } from './memory-storage.js';
import { ringChannelPair, type RingChannelEnds } from './ring-channel.js';
import { ThreadHost } from './thread-host.js';

export interface RuntimeOptions {
  readonly node?: string;
  /** Worker threads; default one per core. Thread 0 is the main thread; with none, every actor runs on it. */
  readonly threads?: number;
  readonly log: Logger;
  readonly logLevel?: string;
  /** How the worker threads write their logs (the main thread's logger says for itself). */
  readonly logFormat?: LogFormat;
  readonly poolMaxBytes?: number;
}

interface Placed {
  thread: number;
  incarnation: number;
  readonly spec: BehaviorSpec;
  readonly storage?: StorageSpec;
}

const workerEntry = fileURLToPath(new URL('./worker-entry.js', import.meta.url));
/**
 * The young generation of each worker's heap. V8 lets it grow to 48 MiB per isolate under a high
 * allocation rate (every message and block key is short-lived garbage); 6 MiB keeps scavenges cheap
 * and the daemon's RSS inside its bound, at no measured cost in throughput (BENCHMARKS.md).
 */
export const workerYoungGenerationMbMax = 6;

/**
 * The actor runtime of one node: worker threads each running a ThreadHost, the main thread's own
 * host (for the NBD front end and tests), a shared ring channel between every pair of threads, placement
 * of actors, and supervision of whole threads: when a worker dies, its actors are started again,
 * with their incarnation increased, on the threads that remain.
 */
export class ActorRuntime {
  readonly host: ThreadHost;
  readonly pool: BufferPool;
  private readonly workers = new Map<number, Worker>();
  private readonly placed = new Map<string, Placed>();
  private readonly localActors = new Set<string>();
  private readonly located = new Map<string, string | undefined>();
  private readonly spawnWaiters = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  private readonly retireWaiters = new Map<string, () => void>();
  private nextThread = 0;
  private stopping: Promise<void> | undefined;
  private deaths = 0;
  private readonly deathListeners: Array<(actors: ReadonlySet<string>) => void> = [];

  private constructor(
    readonly node: string,
    private readonly options: RuntimeOptions,
  ) {
    this.host = new ThreadHost(node, 0, options.log, () => this.pool);
    this.pool = new BufferPool({
      maxBytes: options.poolMaxBytes ?? 256 * 1024 * 1024,
      onGrow: (slab) => {
        this.host.announceSlab(slab);
        this.broadcast({ type: 'slabs', slabs: [slab] });
      },
    });
  }

  static async start(options: RuntimeOptions): Promise<ActorRuntime> {
    const runtime = new ActorRuntime(options.node ?? 'local', options);
    const threads = options.threads ?? os.availableParallelism();
    assert(threads >= 0 && threads <= 256, `threads ${threads}`);
    for (let thread = 1; thread <= threads; thread++) runtime.startWorker(thread);
    runtime.connectAll();
    return runtime;
  }

  get threadIds(): number[] {
    return [...this.workers.keys()];
  }

  where(actor: string): Placed | undefined {
    return this.placed.get(actor);
  }

  /**
   * Starts an actor on a worker (round robin unless `thread` is given; with no workers, on the
   * main thread), with its storage opened
   * from `storage` on that thread (thread memory without one). Rejects, placing nothing, when the
   * behavior or the storage cannot be opened.
   */
  async spawn(
    actor: string,
    spec: BehaviorSpec,
    thread?: number,
    storage?: StorageSpec,
    incarnation = 0,
  ): Promise<void> {
    assert(!this.placed.has(actor), `actor ${actor} exists`);
    const target = thread ?? this.pickThread();
    const placed: Placed = { thread: target, incarnation, spec, storage };
    this.placed.set(actor, placed);
    try {
      await this.startOn(actor, placed);
    } catch (error) {
      this.placed.delete(actor);
      throw error;
    }
  }

  /**
   * Stops one worker actor and closes its storage (every write on disk); messages to it then fail
   * at once with WHORL_ACTOR_STOPPED. `spawn` may start it again under the same name.
   */
  async retire(actor: string): Promise<void> {
    const placed = this.placed.get(actor);
    if (!placed) return;
    this.placed.delete(actor);
    this.broadcast({ type: 'place', actor, thread: -1 });
    if (placed.thread === 0) return this.host.retire(actor);
    const retired = new Promise<void>((resolve) => this.retireWaiters.set(actor, resolve));
    this.workers.get(placed.thread)?.postMessage({ type: 'retire', actor } satisfies ToWorker);
    await retired;
  }

  /**
   * Joins this node to others: envelopes for another node's actors go to `send` (the node links,
   * transport/node-links.ts), and `deliver` takes those that arrive from other nodes.
   */
  connectNodes(send: ((envelope: Envelope) => void) | undefined): void {
    this.host.connectRemote(send);
  }

  /** `actor` runs on another node: every thread sends what is addressed to it there (undefined: it does not). */
  locate(actor: string, node: string | undefined): void {
    this.located.set(actor, node);
    if (node === undefined) this.located.delete(actor);
    this.broadcast({ type: 'locate', actor, ...(node === undefined ? {} : { node }) });
  }

  /** An envelope from another node, for one of this node's actors (on any of its threads). */
  deliver(envelope: Envelope): void {
    this.host.route(envelope);
  }

  /** Starts an actor on the main thread (used by the front end and tests). */
  spawnLocal(actor: string, behavior: Behavior): void {
    this.host.spawn(actor, behavior, new MemoryStorage());
    this.localActors.add(actor);
    this.broadcast({ type: 'place', actor, thread: 0 });
  }

  /** Worker threads that died (not stopped) since the runtime started: their actors' memory was lost. */
  get threadDeaths(): number {
    return this.deaths;
  }

  /** Calls `listener` with the actors a worker thread held each time one dies (before they restart elsewhere). */
  onThreadDeath(listener: (actors: ReadonlySet<string>) => void): void {
    this.deathListeners.push(listener);
  }

  /** Test hook: makes a worker thread die abruptly, as a crash would. */
  killThread(thread: number): void {
    this.workers.get(thread)?.postMessage({ type: 'die' } satisfies ToWorker);
  }

  /** Whether `stop` was called: actors answer nothing any more. */
  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  /** Orderly stop: every worker drains and stops its actors, then exits by itself. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const exits = [...this.workers.values()].map((worker) => once(worker, 'exit'));
      this.broadcast({ type: 'stop' });
      await this.host.stopAll();
      await Promise.all(exits);
    })();
    return this.stopping;
  }

  private startWorker(thread: number): void {
    const worker = new Worker(workerEntry, {
      workerData: {
        node: this.node,
        thread,
        logLevel: this.options.logLevel ?? 'warn',
        logFormat: this.options.logFormat ?? 'json',
      },
      resourceLimits: { maxYoungGenerationSizeMb: workerYoungGenerationMbMax },
    });
    worker.on('message', (message: FromWorker) => this.onWorkerMessage(message));
    worker.on('error', (error) => this.options.log.error({ err: error, thread }, 'worker thread failed'));
    worker.on('exit', (code) => this.onWorkerExit(thread, code));
    this.workers.set(thread, worker);
  }

  private connectAll(): void {
    const threads = [0, ...this.workers.keys()];
    for (let i = 0; i < threads.length; i++) {
      for (let j = i + 1; j < threads.length; j++) this.connect(threads[i]!, threads[j]!);
    }
  }

  private connect(a: number, b: number): void {
    const { port1, port2 } = new MessageChannel();
    const [endsA, endsB] = ringChannelPair();
    this.givePort(a, b, port1, endsA);
    this.givePort(b, a, port2, endsB);
  }

  /** A new worker in place of a dead one, connected to every thread, told where actors run. */
  private replaceWorker(thread: number): void {
    this.startWorker(thread);
    for (const other of [0, ...this.workers.keys()]) if (other !== thread) this.connect(thread, other);
    const worker = this.workers.get(thread)!;
    for (const [actor, placed] of this.placed)
      worker.postMessage({ type: 'place', actor, thread: placed.thread } satisfies ToWorker);
    for (const actor of this.localActors) worker.postMessage({ type: 'place', actor, thread: 0 } satisfies ToWorker);
    for (const [actor, node] of this.located) worker.postMessage({ type: 'locate', actor, node } satisfies ToWorker);
  }

  private givePort(owner: number, peer: number, port: MessageChannel['port1'], ends: RingChannelEnds): void {
    if (owner === 0) return this.host.connectPeer(peer, port, ends);
    this.workers.get(owner)!.postMessage({ type: 'peer', thread: peer, port, ends } satisfies ToWorker, [port]);
  }

  private async startOn(actor: string, placed: Placed): Promise<void> {
    const { thread, incarnation, spec, storage } = placed;
    if (thread === 0) {
      const behavior = await loadBehavior(spec);
      this.host.spawn(actor, behavior, storage ? await openStorage(storage) : new MemoryStorage(), incarnation);
      this.broadcast({ type: 'place', actor, thread });
      return;
    }
    const started = new Promise<void>((resolve, reject) => this.spawnWaiters.set(actor, { resolve, reject }));
    const worker = this.workers.get(thread);
    assert(worker, `no thread ${thread}`);
    worker.postMessage({ type: 'slabs', slabs: this.pool.descriptors() } satisfies ToWorker);
    worker.postMessage({ type: 'spawn', actor, spec, storage, incarnation } satisfies ToWorker);
    await started;
    this.broadcast({ type: 'place', actor, thread });
  }

  private onWorkerMessage(message: FromWorker): void {
    if (message.type === 'retired') {
      this.retireWaiters.get(message.actor)?.();
      this.retireWaiters.delete(message.actor);
      return;
    }
    const waiter = this.spawnWaiters.get(message.actor);
    this.spawnWaiters.delete(message.actor);
    if (message.error) waiter?.reject(new Error(`actor ${message.actor} did not start: ${message.error}`));
    else waiter?.resolve();
  }

  private onWorkerExit(thread: number, code: number): void {
    this.workers.delete(thread);
    if (this.stopping) return;
    this.deaths += 1;
    const held = new Set([...this.placed].filter(([, placed]) => placed.thread === thread).map(([actor]) => actor));
    for (const listener of this.deathListeners) listener(held);
    this.options.log.error({ thread, code }, 'worker thread died; restarting its actors elsewhere');
    if (this.workers.size === 0) this.replaceWorker(thread);
    for (const [actor, placed] of this.placed) {
      if (placed.thread !== thread) continue;
      placed.thread = this.pickThread();
      placed.incarnation += 1;
      void this.startOn(actor, placed).catch((error: unknown) =>
        this.options.log.error({ err: error, actor }, 'could not restart actor'),
      );
    }
  }

  private pickThread(): number {
    const threads = [...this.workers.keys()].sort((a, b) => a - b);
    if (threads.length === 0 && this.options.threads === 0) return 0;
    assert(threads.length > 0, 'no worker threads left');
    return threads[this.nextThread++ % threads.length]!;
  }

  private broadcast(message: ToWorker): void {
    if (message.type === 'place') this.host.place(message.actor, message.thread < 0 ? undefined : message.thread);
    if (message.type === 'locate') this.host.locate(message.actor, message.node);
    for (const worker of this.workers.values()) worker.postMessage(message);
  }
}
