import type { Actor, Behavior, Incoming } from '../../actors/actor.js';
import type { Address } from '../../actors/address.js';
import { assertNever } from '../../assert.js';
import type { RegisterChecker } from './checker.js';
import { valueOf, type RegisterMessage, type Versioned } from './protocol.js';

export const clientTimeoutMs = 200;
const retryDelayMs = 10;

type Operation =
  { readonly kind: 'write'; readonly version: number } | { readonly kind: 'read'; readonly ackedAtStart: number };

/** Runs writes and reads one at a time forever, retrying each until it succeeds, reporting to the checker. */
export function registerClient(target: Address, checker: RegisterChecker): Behavior<RegisterMessage> {
  return (context): Actor<RegisterMessage> => {
    let nextVersion = checker.lastAcked + 1;
    let current: { operation: Operation; requestId: number } | undefined;
    /** An operation that failed, to issue again when the retry timer fires. */
    let retrying: Operation | undefined;

    function issue(operation: Operation): void {
      const body: RegisterMessage =
        operation.kind === 'write'
          ? { op: 'write', version: operation.version, value: valueOf(operation.version) }
          : { op: 'read' };
      if (operation.kind === 'write') checker.writeStarted(operation.version);
      current = { operation, requestId: context.request(target, body, clientTimeoutMs) };
    }

    function next(): void {
      if (context.random() < 0.5) issue({ kind: 'write', version: nextVersion });
      else issue({ kind: 'read', ackedAtStart: checker.lastAcked });
    }

    function completed(requestId: number, reply: unknown): void {
      if (!current || current.requestId !== requestId) return;
      const { operation } = current;
      current = undefined;
      const ok = (reply as { ok?: boolean } | undefined)?.ok === true;
      if (!ok) {
        retrying = operation;
        context.setTimer(retryDelayMs, { op: 'read' } satisfies RegisterMessage);
        return;
      }
      if (operation.kind === 'write') {
        checker.writeAcked(operation.version);
        nextVersion = operation.version + 1;
      } else {
        checker.readReturned(reply as Versioned, operation.ackedAtStart, context.now());
      }
      next();
    }

    context.setTimer(1, { op: 'read' } satisfies RegisterMessage);
    return {
      receive(incoming: Incoming<RegisterMessage>): void {
        switch (incoming.kind) {
          case 'timer': {
            const operation = retrying;
            retrying = undefined;
            if (operation)
              return issue(operation.kind === 'read' ? { kind: 'read', ackedAtStart: checker.lastAcked } : operation);
            if (!current) return next();
            return;
          }
          case 'reply':
            return completed(incoming.requestId, incoming.body);
          case 'failure':
            return completed(incoming.requestId, undefined);
          case 'tell':
          case 'request':
          case 'flushed':
            return;
          default:
            return assertNever(incoming, 'incoming');
        }
      },
    };
  };
}
