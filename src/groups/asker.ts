import type { ActorContext } from '../actors/actor.js';
import { address } from '../actors/address.js';
import { assert } from '../assert.js';
import type { DiskReply, Fence } from '../storage/disk-protocol.js';
import type { ServerReplyTo, ServerRequest } from '../servers/server-protocol.js';

/**
 * Requests that wait for the group's first term before they are sent: a group that has none yet
 * is at most its mailbox's worth of requests behind, each asking a few of these.
 */
export const unfencedAsksMax = 65_536;

/**
 * Requests to server actors with a continuation each: an actor stays one synchronous `receive`,
 * and a reply or a failure (timeout, stopped) both arrive as a DiskReply.
 *
 * Every request that changes a disk (and the listing of marks recovery decides from) carries the
 * group's fence: its name and term (storage/terms.ts). Until the group has its term, those
 * requests wait here, in order. A copy that refuses the fence (WHORL_STALE_TERM) has accepted a
 * newer coordinator of the group: this one steps down (`settle` throws, and its supervisor
 * restarts it, which claims a newer term).
 */
export class Asker {
  private readonly waiting = new Map<number, (reply: DiskReply) => void>();
  private fence: Fence | undefined;
  private readonly unfenced: Array<() => void> = [];

  constructor(
    private readonly context: ActorContext,
    private readonly timeoutMs: number,
  ) {}

  get inFlight(): number {
    return this.waiting.size;
  }

  /** The group's term, set once: what waited for it is sent now, in order. */
  fenceWith(fence: Fence): void {
    assert(this.fence === undefined, `${fence.group}: a term is set once per incarnation`);
    this.fence = fence;
    for (const send of this.unfenced.splice(0)) send();
  }

  /** Asks `server`; `then` hears the reply to this kind of request (or a failure). */
  ask<Body extends ServerRequest>(server: number, body: Body, then: (reply: ServerReplyTo<Body>) => void): void {
    this.askAny(server, body, then as (reply: DiskReply) => void);
  }

  private askAny(server: number, body: ServerRequest, then: (reply: DiskReply) => void): void {
    if (!fenced(body)) return this.send(server, body, then);
    if (this.fence === undefined) {
      assert(this.unfenced.length < unfencedAsksMax, `more than ${unfencedAsksMax} requests wait for a term`);
      this.unfenced.push(() => this.askAny(server, body, then));
      return;
    }
    const fence = this.fence;
    this.send(
      server,
      body.op === 'duplicate' ? { ...body, write: { ...body.write, fence } } : { ...body, fence },
      then,
    );
  }

  /** Returns false when the reply was not for one of these requests. */
  settle(requestId: number, reply: DiskReply): boolean {
    const then = this.waiting.get(requestId);
    if (!then) return false;
    this.waiting.delete(requestId);
    // A server-driven duplicate carries its mirror's answer inside the primary's.
    const refusal = [reply, (reply as { mirror?: DiskReply }).mirror].find(
      (one) => one !== undefined && !one.ok && one.code === 'WHORL_STALE_TERM',
    );
    if (refusal && !refusal.ok) {
      throw new Error(`${this.fence?.group} term ${this.fence?.term} steps down: ${refusal.message}`);
    }
    then(reply);
    return true;
  }

  private send(server: number, body: ServerRequest, then: (reply: DiskReply) => void): void {
    this.waiting.set(
      this.context.request(address(this.context.self.node, `server-${server}`), body, this.timeoutMs),
      then,
    );
  }
}

/** Requests that carry the group's fence: every change to a disk, and the listing of its marks. */
function fenced(body: ServerRequest): body is Extract<ServerRequest, { op: FencedOp }> {
  return (fencedOps as readonly string[]).includes(body.op);
}
const fencedOps = ['write', 'trim', 'lose', 'setMarks', 'clearMarks', 'listMarks', 'duplicate'] as const;
type FencedOp = (typeof fencedOps)[number];

/** Failures that say the server, not the request, is the problem: the other copy takes over. */
export function isServerFailure(reply: DiskReply): boolean {
  if (reply.ok) return false;
  return (
    reply.code === 'WHORL_ACTOR_STOPPED' ||
    reply.code === 'WHORL_TIMEOUT' ||
    reply.code === 'WHORL_STALE_INCARNATION' ||
    reply.code === 'WHORL_IO' ||
    reply.code === 'WHORL_MAILBOX_FULL' ||
    // Its node is out of reach (multi-host): as good as stopped, for the group and for readers.
    reply.code === 'WHORL_UNREACHABLE'
  );
}
