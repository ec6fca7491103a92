import type { Actor, ActorContext, Behavior, Incoming } from '../actors/actor.js';
import { address } from '../actors/address.js';
import type { DiskReply } from '../storage/disk-protocol.js';

/**
 * The router's actor, seen as promises: a request resolves with its reply (or its failure as a
 * DiskReply-shaped refusal), a pause with its own timer. Tells go to `onTell`. The actor runs on
 * the front end's thread, or as 'router' in the simulator, whose clock its timers follow.
 */
export class RouterMailbox {
  private readonly waiting = new Map<number, (reply: unknown) => void>();
  /** Pauses (`sleep`) waiting for their timer, by its body. */
  private readonly sleepers = new Map<number, () => void>();
  private nextSleeper = 1;
  /** Pauses that also end at the next `wakeAll` (a change a waiting read looks for). */
  private readonly changeWaiters = new Set<() => void>();
  private context_!: ActorContext;

  constructor(
    spawnLocal: (actor: string, behavior: Behavior) => void,
    private readonly onTell: (body: unknown) => void,
  ) {
    spawnLocal('router', (context): Actor => {
      this.context_ = context;
      return { receive: (incoming) => this.receive(incoming) };
    });
  }

  get context(): ActorContext {
    return this.context_;
  }

  /** Asks an actor of this node; with `toIncarnation`, only that incarnation may answer. */
  ask(actor: string, body: unknown, timeoutMs: number, toIncarnation?: number): Promise<unknown> {
    return new Promise((resolve) => {
      const to = address(this.context_.self.node, actor);
      this.waiting.set(this.context_.request(to, body, timeoutMs, toIncarnation), resolve);
    });
  }

  tell(actor: string, body: unknown): void {
    this.context_.send(address(this.context_.self.node, actor), body);
  }

  /**
   * Resolves after `ms` of the actor's clock (a timer of its own, so the simulator runs it too), or
   * with `orChange` at the next `wakeAll` if sooner.
   */
  sleep(ms: number, orChange = false): Promise<void> {
    return new Promise((resolve) => {
      const sleeper = this.nextSleeper++;
      const timer = this.context_.setTimer(ms, sleeper);
      const wake = (): void => {
        this.sleepers.delete(sleeper);
        this.changeWaiters.delete(wake);
        this.context_.cancelTimer(timer);
        resolve();
      };
      this.sleepers.set(sleeper, wake);
      if (orChange) this.changeWaiters.add(wake);
    });
  }

  /** Ends every pause that waits for a change. */
  wakeAll(): void {
    for (const wake of [...this.changeWaiters]) wake();
  }

  private receive(incoming: Incoming<unknown>): void {
    switch (incoming.kind) {
      case 'tell':
        return this.onTell(incoming.body);
      case 'timer':
        return this.sleepers.get(incoming.body as number)?.();
      case 'reply':
      case 'failure': {
        const resolve = this.waiting.get(incoming.requestId);
        this.waiting.delete(incoming.requestId);
        resolve?.(
          incoming.kind === 'reply'
            ? incoming.body
            : ({ ok: false, code: incoming.code, message: incoming.reason } satisfies DiskReply),
        );
        return;
      }
      default:
        return;
    }
  }
}
