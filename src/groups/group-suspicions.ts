import type { ActorContext } from '../actors/actor.js';
import type { Address } from '../actors/address.js';
import type { ControlRequest } from '../control/control-protocol.js';
import type { WhorlErrorCode } from '../errors.js';

const suspectRetryMs = 300;

/**
 * Servers a replica group reported to the control actor as failed and has not yet seen out (down
 * or stopped) in a view: each is reported again every 300 ms (a timer message `suspect-retry`)
 * until a view agrees, since one report may be lost. A resyncing server is still in, and suspect.
 */
export class GroupSuspicions {
  private readonly suspected = new Map<number, { why: string; code: WhorlErrorCode }>();

  constructor(
    private readonly context: ActorContext,
    private readonly control: Address,
    /** Whether the latest view still counts the server in (writable). */
    private readonly isIn: (server: number) => boolean,
  ) {}

  /** Reports `server` for a failed reply. */
  suspect(server: number, why: string, code: WhorlErrorCode): void {
    if (this.suspected.size === 0) this.context.setTimer(suspectRetryMs, { op: 'suspect-retry' });
    this.suspected.set(server, { why, code });
    this.context.send(this.control, { op: 'suspect', server, why, code } satisfies ControlRequest);
  }

  /** The `suspect-retry` timer: reports again each suspect the view still counts in. */
  retry(): void {
    this.forgetOut();
    for (const [server, { why, code }] of this.suspected)
      this.context.send(this.control, { op: 'suspect', server, why, code } satisfies ControlRequest);
    if (this.suspected.size > 0) this.context.setTimer(suspectRetryMs, { op: 'suspect-retry' });
  }

  /** Forgets the suspects a new view shows out. */
  forgetOut(): void {
    for (const server of this.suspected.keys()) if (!this.isIn(server)) this.suspected.delete(server);
  }

  servers(): Set<number> {
    return new Set(this.suspected.keys());
  }
}
