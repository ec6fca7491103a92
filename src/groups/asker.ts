import type { ActorContext } from '../actors/actor.js';
import { address } from '../actors/address.js';
import type { DiskReply } from '../storage/disk-protocol.js';
import type { ServerRequest } from '../servers/server-protocol.js';

/**
 * Requests to server actors with a continuation each: an actor stays one synchronous `receive`,
 * and a reply or a failure (timeout, stopped) both arrive as a DiskReply.
 */
export class Asker {
  private readonly waiting = new Map<number, (reply: DiskReply) => void>();

  constructor(
    private readonly context: ActorContext,
    private readonly timeoutMs: number,
  ) {}

  get inFlight(): number {
    return this.waiting.size;
  }

  ask(server: number, body: ServerRequest, then: (reply: DiskReply) => void): void {
    this.waiting.set(
      this.context.request(address(this.context.self.node, `server-${server}`), body, this.timeoutMs),
      then,
    );
  }

  /** Returns false when the reply was not for one of these requests. */
  settle(requestId: number, reply: DiskReply): boolean {
    const then = this.waiting.get(requestId);
    if (!then) return false;
    this.waiting.delete(requestId);
    then(reply);
    return true;
  }
}

/** Failures that say the server, not the request, is the problem: the other copy takes over. */
export function isServerFailure(reply: DiskReply): boolean {
  if (reply.ok) return false;
  return (
    reply.code === 'WHORL_ACTOR_STOPPED' ||
    reply.code === 'WHORL_TIMEOUT' ||
    reply.code === 'WHORL_STALE_INCARNATION' ||
    reply.code === 'WHORL_IO' ||
    reply.code === 'WHORL_MAILBOX_FULL'
  );
}
