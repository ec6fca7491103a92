import type { Actor, ActorContext, Behavior, Incoming, RequestIncoming } from '../actors/actor.js';
import { address } from '../actors/address.js';
import { assertNever } from '../assert.js';
import type { ControlRequest } from '../control/control-protocol.js';
import type { DiskReply } from '../storage/disk-protocol.js';
import type { DuplicateReply, OwnWritten, ServerRequest } from './server-protocol.js';

export interface ServerOptions {
  readonly id: number;
  readonly heartbeatMs: number;
  /** How long a request to the disk may take before it is answered as WHORL_TIMEOUT. */
  readonly diskTimeoutMs: number;
}

/** Requests one server may have in flight to its disk; past it, callers get WHORL_MAILBOX_FULL. */
export const serverInFlightMax = 4096;

type Request = RequestIncoming<ServerRequest>;

/**
 * A Petal server: the one way in to its disk (the PMap maps a virtual disk's global map to this
 * server's disk at the same block numbers, so requests pass through unchanged), and its liveness:
 * a heartbeat to the control actor while it runs. Taking the server out (the operator, or a crash)
 * makes its disk unreachable, which is what its replica groups notice and work around. As the
 * primary of a CEFT mirror pair driven by the servers, it forwards writes to its mirror
 * (server-protocol.ts).
 */
export function serverActor(options: ServerOptions): Behavior<ServerRequest> {
  return (context: ActorContext): Actor<ServerRequest> => {
    const disk = address(context.self.node, `disk-${options.id}`);
    const control = address(context.self.node, 'control');
    /** What each outstanding request of this server answers: a caller's request, or part of a duplicate. */
    const inFlight = new Map<number, (reply: DiskReply) => void>();
    const pass = (request: Request, body: unknown): void => {
      inFlight.set(context.request(disk, body, options.diskTimeoutMs), (reply) => context.reply(request, reply));
    };

    const duplicate = (request: Request, body: Extract<ServerRequest, { op: 'duplicate' }>): void => {
      let own: DiskReply | undefined;
      let mirror: DiskReply | undefined;
      const settle = (): void => {
        if (own && mirror) context.reply(request, { ...own, mirror } satisfies DuplicateReply);
      };
      inFlight.set(context.request(disk, body.write, options.diskTimeoutMs), (reply) => {
        own = reply;
        if (body.early && reply.ok)
          context.send(request.from, { op: 'own-written', ref: body.ref } satisfies OwnWritten);
        settle();
      });
      const forward: ServerRequest = { op: 'forwarded', notAfterMs: body.notAfterMs, write: body.write };
      inFlight.set(
        context.request(address(context.self.node, `server-${body.mirror}`), forward, options.diskTimeoutMs),
        (reply) => {
          mirror = reply;
          settle();
        },
      );
    };

    const onRequest = (request: Request): void => {
      const body = request.body;
      if (inFlight.size >= serverInFlightMax) {
        return context.reply(request, {
          ok: false,
          code: 'WHORL_MAILBOX_FULL',
          message: `server ${options.id}: ${serverInFlightMax} requests in flight`,
        } satisfies DiskReply);
      }
      if (body.op === 'duplicate') return duplicate(request, body);
      if (body.op === 'forwarded') {
        if (context.wallClockMs() > body.notAfterMs) {
          return context.reply(request, {
            ok: false,
            code: 'WHORL_TIMEOUT',
            message: `server ${options.id}: a forwarded ${body.write.op} arrived ${context.wallClockMs() - body.notAfterMs} ms after its deadline`,
          } satisfies DiskReply);
        }
        return pass(request, body.write);
      }
      pass(request, body);
    };

    const beat = (): void => {
      context.send(control, {
        op: 'heartbeat',
        server: options.id,
        incarnation: context.incarnation,
      } satisfies ControlRequest);
      context.setTimer(options.heartbeatMs, 'heartbeat');
    };
    beat();

    return {
      receive(incoming: Incoming<ServerRequest>): void {
        switch (incoming.kind) {
          case 'request':
            return onRequest(incoming);
          case 'reply':
          case 'failure': {
            const then = inFlight.get(incoming.requestId);
            if (!then) return;
            inFlight.delete(incoming.requestId);
            return then(
              incoming.kind === 'reply'
                ? (incoming.body as DiskReply)
                : { ok: false, code: incoming.code, message: incoming.reason },
            );
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
