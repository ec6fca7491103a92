import type { ActorContext } from '../actors/actor.js';
import { address } from '../actors/address.js';
import type { ControlReply, ControlRequest } from '../control/control-protocol.js';

/** How long a group waits before asking for its term again after a failed claim. */
export const termRetryMs = 300;

/**
 * A replica group's claim of its term: each incarnation asks the control plane for a term above
 * every one handed to the group before (durable there before the answer), once, retrying until
 * it has one. Until then the group's changes to disks wait (asker.ts); with it, every copy
 * refuses the group's earlier incarnations.
 */
export class TermClaim {
  private requestId: number | undefined;
  private claimed = false;

  constructor(
    private readonly context: ActorContext,
    private readonly group: string,
    private readonly timeoutMs: number,
    private readonly onTerm: (term: number) => void,
  ) {}

  start(): void {
    if (this.claimed) return;
    const body: ControlRequest = { op: 'term', group: this.group };
    this.requestId = this.context.request(address(this.context.self.node, 'control'), body, this.timeoutMs);
  }

  /** Returns false when the reply was not for the claim. */
  onReply(requestId: number, body: unknown): boolean {
    if (requestId !== this.requestId) return false;
    this.requestId = undefined;
    const reply = body as ControlReply;
    if (!reply.ok || reply.term === undefined) {
      this.context.setTimer(termRetryMs, { op: 'term-retry' });
      return true;
    }
    this.claimed = true;
    this.onTerm(reply.term);
    return true;
  }

  /** Returns false when the failure was not the claim's. */
  onFailure(requestId: number): boolean {
    if (requestId !== this.requestId) return false;
    this.requestId = undefined;
    this.context.setTimer(termRetryMs, { op: 'term-retry' });
    return true;
  }
}
