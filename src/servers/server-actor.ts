import type { Actor, ActorContext, Behavior, Incoming, RequestIncoming } from '../actors/actor.js';
import { address } from '../actors/address.js';
import { assertNever } from '../assert.js';
import type { ControlRequest } from '../control/control-protocol.js';
import type { DiskReply, DiskRequest } from '../storage/disk-protocol.js';

export interface ServerOptions {
  readonly id: number;
  readonly heartbeatMs: number;
  /** How long a request to the disk may take before it is answered as WHORL_TIMEOUT. */
  readonly diskTimeoutMs: number;
}

/** Requests one server may have in flight to its disk; past it, callers get WHORL_MAILBOX_FULL. */
export const serverInFlightMax = 4096;

/**
 * A Petal server: the one way in to its disk (the PMap maps a virtual disk's global map to this
 * server's disk at the same block numbers, so requests pass through unchanged), and its liveness:
 * a heartbeat to the control actor while it runs. Taking the server out (the operator, or a crash)
 * makes its disk unreachable, which is what its replica groups notice and work around.
 */
export function serverActor(options: ServerOptions): Behavior<DiskRequest> {
  return (context: ActorContext): Actor<DiskRequest> => {
    const disk = address(context.self.node, `disk-${options.id}`);
    const control = address(context.self.node, 'control');
    const inFlight = new Map<number, RequestIncoming<DiskRequest>>();

    const beat = (): void => {
      context.send(control, { op: 'heartbeat', server: options.id, incarnation: context.incarnation } satisfies ControlRequest);
      context.setTimer(options.heartbeatMs, 'heartbeat');
    };
    beat();

    return {
      receive(incoming: Incoming<DiskRequest>): void {
        switch (incoming.kind) {
          case 'request': {
            if (inFlight.size >= serverInFlightMax) {
              return context.reply(incoming, { ok: false, code: 'WHORL_MAILBOX_FULL', message: `server ${options.id}: ${serverInFlightMax} requests in flight` } satisfies DiskReply);
            }
            inFlight.set(context.request(disk, incoming.body, options.diskTimeoutMs), incoming);
            return;
          }
          case 'reply':
          case 'failure': {
            const request = inFlight.get(incoming.requestId);
            if (!request) return;
            inFlight.delete(incoming.requestId);
            const reply: DiskReply = incoming.kind === 'reply' ? (incoming.body as DiskReply) : { ok: false, code: incoming.code, message: incoming.reason };
            return context.reply(request, reply);
          }
          case 'timer':
            return beat();
          case 'tell':
          case 'flushed':
            return;
          default:
            return assertNever(incoming, 'incoming');
        }
      },
    };
  };
}
