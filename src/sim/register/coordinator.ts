import type { Actor, Behavior, Incoming, RequestIncoming } from '../../actors/actor.js';
import type { Address } from '../../actors/address.js';
import { assertNever } from '../../assert.js';
import type { RegisterMessage, Versioned } from './protocol.js';

export const replicaTimeoutMs = 50;

/** `ack-early` is the deliberately broken variant: it answers a write before any replica has. */
export type CoordinatorVariant = 'correct' | 'ack-early';

interface Operation {
  readonly client: RequestIncoming<RegisterMessage>;
  readonly kind: 'write' | 'read';
  answered: boolean;
  oks: number;
  failures: number;
  newest: Versioned;
}

/** Stateless: forwards each client operation to every replica and answers on a majority. */
export function coordinator(
  replicas: readonly Address[],
  variant: CoordinatorVariant = 'correct',
): Behavior<RegisterMessage> {
  const majority = Math.floor(replicas.length / 2) + 1;
  return (context): Actor<RegisterMessage> => {
    const operations = new Map<number, Operation>();

    function start(client: RequestIncoming<RegisterMessage>): void {
      const body = client.body;
      switch (body.op) {
        case 'write':
        case 'read': {
          const operation: Operation = {
            client,
            kind: body.op,
            answered: false,
            oks: 0,
            failures: 0,
            newest: { version: 0, value: '' },
          };
          const forward: RegisterMessage =
            body.op === 'write' ? { op: 'store', version: body.version, value: body.value } : { op: 'load' };
          for (const replica of replicas)
            operations.set(context.request(replica, forward, replicaTimeoutMs), operation);
          if (variant === 'ack-early' && body.op === 'write') answer(operation, { ok: true });
          return;
        }
        case 'store':
        case 'load':
          return context.reply(client, { ok: false });
        default:
          return assertNever(body, 'register message');
      }
    }

    function answer(operation: Operation, body: unknown): void {
      if (operation.answered) return;
      operation.answered = true;
      context.reply(operation.client, body);
    }

    function settle(requestId: number, reply: unknown): void {
      const operation = operations.get(requestId);
      operations.delete(requestId);
      if (!operation) return;
      const ok = operation.kind === 'read' ? reply !== undefined : (reply as { ok?: boolean } | undefined)?.ok === true;
      if (ok) operation.oks += 1;
      else operation.failures += 1;
      if (ok && operation.kind === 'read' && (reply as Versioned).version > operation.newest.version)
        operation.newest = reply as Versioned;
      if (operation.oks >= majority) {
        answer(operation, operation.kind === 'read' ? { ok: true, ...operation.newest } : { ok: true });
      } else if (operation.failures > replicas.length - majority) {
        answer(operation, { ok: false });
      }
    }

    return {
      receive(incoming: Incoming<RegisterMessage>): void {
        switch (incoming.kind) {
          case 'request':
            return start(incoming);
          case 'reply':
            return settle(incoming.requestId, incoming.body);
          case 'failure':
            return settle(incoming.requestId, undefined);
          case 'tell':
          case 'timer':
          case 'flushed':
            return;
          default:
            return assertNever(incoming, 'incoming');
        }
      },
    };
  };
}
