import { assert } from '../assert.js';
import type { WhorlErrorCode } from '../errors.js';
import type { Actor, ActorContext, ActorStorage, Behavior, Incoming, RequestIncoming } from './actor.js';
import { addressKey, type Address } from './address.js';
import type { Envelope } from './envelope.js';
import type { BufferHandle } from './buffer-pool.js';

/** Messages waiting for one actor; past this, requests fail with WHORL_MAILBOX_FULL. */
export const mailboxMax = 4096;
/** Requests one actor may have outstanding at once. */
export const pendingMax = 4096;
/** Requests one actor may have received and not yet answered. */
export const openRequestsMax = 4096;

/** Storage as the cell sees it: the actor's view plus flush completion and crash behaviour. */
export interface CellStorage extends ActorStorage {
  onFlushed(callback: (token: number, ok: boolean) => void): void;
  /** The process died: what was not flushed may vanish or tear (simulated storage only). */
  crash(): void;
  /** Orderly stop: every write on stable storage, files closed. */
  close?(): Promise<void>;
}

/** What a cell needs from whatever runs it: the simulator or a worker thread. */
export interface CellHost {
  now(): number;
  wallClockMs(): number;
  random(): number;
  route(envelope: Envelope): void;
  schedule(cell: ActorCell): void;
  startTimer(delayMs: number, fire: () => void): unknown;
  cancelTimer(handle: unknown): void;
  log(cell: ActorCell, event: string, fields: Record<string, unknown>): void;
  releaseHandle(handle: BufferHandle): void;
  viewHandle(handle: BufferHandle): Buffer;
  /** Optional: the thread a request to `to` goes to now (hosts that place actors on threads). */
  threadOf?(to: Address): number | undefined;
  /** The node an envelope to `to` goes to now (the runtime's directory; hosts without one: none). */
  nodeOf?(to: Address): string | undefined;
}

/** A request sent and not yet answered: its timeout, and where it went (to fail it if its target moves). */
interface Pending {
  readonly timer: unknown;
  readonly to: Address;
  readonly thread: number | undefined;
  readonly node: string | undefined;
}

/**
 * One actor and its supervision: a bounded mailbox, a bounded table of outstanding requests with
 * timeouts, and restart with a new incarnation when `receive` throws. Requests the dead
 * incarnation held (queued or being worked on) fail with WHORL_STALE_INCARNATION: nothing vanishes.
 */
export class ActorCell {
  incarnation = 0;
  crashes = 0;
  private actor: Actor;
  private readonly mailbox: Incoming<unknown>[] = [];
  private readonly pending = new Map<number, Pending>();
  /** Requests handed to the actor and not yet answered, by identity (an actor answers the object it was given). */
  private readonly openRequests = new Set<RequestIncoming<unknown>>();
  private readonly timers = new Map<number, unknown>();
  private readonly adopted = new Set<BufferHandle>();
  private nextRequestId = 1;
  private nextTimerId = 1;
  private stopped = false;

  constructor(
    readonly self: Address,
    private readonly behavior: Behavior,
    readonly storage: CellStorage,
    private readonly host: CellHost,
    incarnation = 0,
  ) {
    this.incarnation = incarnation;
    storage.onFlushed((token, ok) => this.enqueue({ kind: 'flushed', token, ok }));
    this.actor = behavior(this.context());
  }

  get queued(): number {
    return this.mailbox.length;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** An envelope addressed to this actor arrived. */
  deliver(envelope: Envelope): void {
    assert(envelope.to.actor === this.self.actor && envelope.to.node === this.self.node, 'envelope for another actor');
    switch (envelope.kind) {
      case 'tell':
        return this.enqueue({ kind: 'tell', from: envelope.from, body: envelope.body });
      case 'request':
        if (envelope.toIncarnation !== undefined && envelope.toIncarnation !== this.incarnation) {
          return this.fail(
            envelope,
            'WHORL_STALE_INCARNATION',
            `incarnation ${envelope.toIncarnation} is gone (now ${this.incarnation})`,
          );
        }
        if (this.openRequests.size >= openRequestsMax)
          return this.fail(envelope, 'WHORL_MAILBOX_FULL', 'too many open requests');
        return this.enqueue(
          { kind: 'request', from: envelope.from, requestId: envelope.requestId, body: envelope.body },
          envelope,
        );
      case 'reply':
      case 'failure': {
        // Replies to requests that timed out, or to a previous incarnation, are dropped here.
        const pending = this.pending.get(envelope.requestId);
        if (!pending) return;
        this.host.cancelTimer(pending.timer);
        this.pending.delete(envelope.requestId);
        if (envelope.kind === 'reply')
          return this.enqueue({ kind: 'reply', requestId: envelope.requestId, body: envelope.body });
        return this.enqueue({
          kind: 'failure',
          requestId: envelope.requestId,
          code: envelope.code,
          reason: envelope.reason,
        });
      }
    }
  }

  /** Runs the next message; false when the mailbox is empty. */
  runOne(): boolean {
    const incoming = this.mailbox.shift();
    if (!incoming || this.stopped) return false;
    if (incoming.kind === 'request') this.openRequests.add(incoming);
    try {
      this.actor.receive(incoming);
    } catch (error) {
      this.host.log(this, 'actor crashed', {
        err: error instanceof Error ? error.message : String(error),
        incarnation: this.incarnation,
      });
      this.restart(false);
    }
    return this.mailbox.length > 0;
  }

  /**
   * `actor` (of this node) now runs on `thread`: requests sent to it on another thread will never
   * be answered (that thread died and the actor was restarted here), so they fail now with
   * WHORL_STALE_INCARNATION instead of at their timeout.
   */
  targetMoved(actor: string, thread: number): void {
    this.failSentTo(actor, 'WHORL_STALE_INCARNATION', (pending) =>
      pending.thread === thread ? undefined : `moved from thread ${pending.thread} to ${thread}`,
    );
  }

  /**
   * `actor` (named on this node) now runs on `node`: requests sent to it on another node may never
   * be answered (that node may be paused or cut off), so they fail now with WHORL_UNREACHABLE, and
   * the sender asks again where it runs now, instead of waiting for their timeouts.
   */
  targetRelocated(actor: string, node: string): void {
    this.failSentTo(actor, 'WHORL_UNREACHABLE', (pending) =>
      pending.node === undefined || pending.node === node ? undefined : `moved from node ${pending.node} to ${node}`,
    );
  }

  /** Fails now each request sent to `actor` (of this node) for which `why` names a reason. */
  private failSentTo(actor: string, code: WhorlErrorCode, why: (pending: Pending) => string | undefined): void {
    for (const [requestId, pending] of this.pending) {
      if (pending.to.actor !== actor || pending.to.node !== this.self.node) continue;
      const reason = why(pending);
      if (reason === undefined) continue;
      this.host.cancelTimer(pending.timer);
      this.pending.delete(requestId);
      this.enqueue({ kind: 'failure', requestId, code, reason: `${addressKey(pending.to)} ${reason}` });
    }
  }

  /** Restarts with a new incarnation; `killed` also loses unflushed storage (a process death). */
  restart(killed: boolean): void {
    this.crashes += 1;
    const reason = `incarnation ${this.incarnation} of ${addressKey(this.self)} stopped`;
    this.abandon('WHORL_STALE_INCARNATION', reason);
    if (killed) this.storage.crash();
    this.incarnation += 1;
    this.actor = this.behavior(this.context());
  }

  /** Orderly stop: requests still held fail with WHORL_ACTOR_STOPPED, later ones too. */
  stop(): void {
    this.abandon('WHORL_ACTOR_STOPPED', `${addressKey(this.self)} stopped`);
    this.stopped = true;
  }

  private abandon(code: WhorlErrorCode, reason: string): void {
    for (const incoming of this.mailbox) if (incoming.kind === 'request') this.failIncoming(incoming, code, reason);
    for (const incoming of this.openRequests) this.failIncoming(incoming, code, reason);
    this.mailbox.length = 0;
    this.openRequests.clear();
    for (const { timer } of this.pending.values()) this.host.cancelTimer(timer);
    this.pending.clear();
    for (const handle of this.timers.values()) this.host.cancelTimer(handle);
    this.timers.clear();
    for (const handle of this.adopted) this.host.releaseHandle(handle);
    this.adopted.clear();
  }

  private enqueue(incoming: Incoming<unknown>, envelope?: Extract<Envelope, { kind: 'request' }>): void {
    if (this.stopped) {
      if (envelope) this.fail(envelope, 'WHORL_ACTOR_STOPPED', `${addressKey(this.self)} is stopped`);
      return;
    }
    if (this.mailbox.length >= mailboxMax) {
      if (envelope) this.fail(envelope, 'WHORL_MAILBOX_FULL', `mailbox of ${addressKey(this.self)} is full`);
      else this.host.log(this, 'mailbox full: message dropped', { kind: incoming.kind });
      return;
    }
    this.mailbox.push(incoming);
    if (this.mailbox.length === 1) this.host.schedule(this);
  }

  /** Whether `to` was open (and is no longer): found by identity, or else by sender and request id. */
  private forgetOpen(to: RequestIncoming<unknown>): boolean {
    if (this.openRequests.delete(to)) return true;
    for (const open of this.openRequests) if (sameRequest(open, to)) return this.openRequests.delete(open);
    return false;
  }

  private fail(envelope: Extract<Envelope, { kind: 'request' }>, code: WhorlErrorCode, reason: string): void {
    this.host.route({
      kind: 'failure',
      from: this.self,
      to: envelope.from,
      requestId: envelope.requestId,
      code,
      reason,
    });
  }

  private failIncoming(incoming: RequestIncoming<unknown>, code: WhorlErrorCode, reason: string): void {
    this.host.route({
      kind: 'failure',
      from: this.self,
      to: incoming.from,
      requestId: incoming.requestId,
      code,
      reason,
    });
  }

  private context(): ActorContext {
    const incarnation = this.incarnation;
    const live = (): boolean => incarnation === this.incarnation && !this.stopped;
    return {
      self: this.self,
      incarnation,
      now: () => this.host.now(),
      wallClockMs: () => this.host.wallClockMs(),
      random: () => this.host.random(),
      send: (to, body) => {
        if (live()) this.host.route({ kind: 'tell', from: this.self, to, body });
      },
      request: (to, body, timeoutMs, toIncarnation) => this.request(to, body, timeoutMs, live(), toIncarnation),
      reply: (to, body) => {
        if (!live() || !this.forgetOpen(to)) return;
        this.host.route({ kind: 'reply', from: this.self, to: to.from, requestId: to.requestId, body });
      },
      setTimer: (delayMs, body) => {
        const id = this.nextTimerId++;
        if (!live()) return id;
        this.timers.set(
          id,
          this.host.startTimer(delayMs, () => {
            this.timers.delete(id);
            this.enqueue({ kind: 'timer', body });
          }),
        );
        return id;
      },
      cancelTimer: (id) => {
        this.host.cancelTimer(this.timers.get(id));
        this.timers.delete(id);
      },
      storage: this.storage,
      adopt: (handle) => {
        if (live()) this.adopted.add(handle);
        else this.host.releaseHandle(handle);
      },
      release: (handle) => {
        this.adopted.delete(handle);
        this.host.releaseHandle(handle);
      },
      view: (handle) => this.host.viewHandle(handle),
      log: (event, fields = {}) => this.host.log(this, event, fields),
    };
  }

  private request(to: Address, body: unknown, timeoutMs: number, live: boolean, toIncarnation?: number): number {
    const requestId = this.nextRequestId++;
    if (!live) return requestId;
    if (this.pending.size >= pendingMax) {
      this.enqueue({
        kind: 'failure',
        requestId,
        code: 'WHORL_TOO_MANY_PENDING',
        reason: `${pendingMax} requests outstanding`,
      });
      return requestId;
    }
    const timer = this.host.startTimer(timeoutMs, () => {
      if (!this.pending.delete(requestId)) return;
      this.enqueue({
        kind: 'failure',
        requestId,
        code: 'WHORL_TIMEOUT',
        reason: `no reply from ${addressKey(to)} in ${timeoutMs} ms`,
      });
    });
    this.pending.set(requestId, { timer, to, thread: this.host.threadOf?.(to), node: this.host.nodeOf?.(to) });
    this.host.route(
      toIncarnation === undefined
        ? { kind: 'request', from: this.self, to, requestId, body }
        : { kind: 'request', from: this.self, to, requestId, body, toIncarnation },
    );
    return requestId;
  }
}

function sameRequest(a: RequestIncoming<unknown>, b: RequestIncoming<unknown>): boolean {
  return a.requestId === b.requestId && a.from.actor === b.from.actor && a.from.node === b.from.node;
}
