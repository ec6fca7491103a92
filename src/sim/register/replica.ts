import type { Actor, ActorContext, Behavior, Incoming, RequestIncoming } from '../../actors/actor.js';
import { FlushWaiters } from '../../actors/flush-waiters.js';
import { assertNever } from '../../assert.js';
import { decodeRecord, encodeRecord, type RegisterMessage, type Versioned } from './protocol.js';

/** Stores every version it is sent; answers a store only once it is flushed. */
export const replica: Behavior<RegisterMessage> = (context: ActorContext): Actor<RegisterMessage> => {
  let newest: Versioned = { version: 0, value: '' };
  for (const [, value] of context.storage.range('', '\uffff')) {
    const record = decodeRecord(value);
    if (record && record.version > newest.version) newest = record;
  }
  const flushes = new FlushWaiters(context.storage);

  return {
    receive(incoming: Incoming<RegisterMessage>): void {
      switch (incoming.kind) {
        case 'request':
          return handle(incoming);
        case 'flushed':
          return flushes.settle(incoming.token, incoming.ok);
        case 'tell':
        case 'reply':
        case 'failure':
        case 'timer':
          return;
        default:
          return assertNever(incoming, 'incoming');
      }
    },
  };

  function handle(request: RequestIncoming<RegisterMessage>): void {
    const body = request.body;
    switch (body.op) {
      case 'store': {
        context.storage.put(`v/${String(body.version).padStart(12, '0')}`, encodeRecord(body));
        if (body.version > newest.version) newest = { version: body.version, value: body.value };
        return flushes.after((ok) => context.reply(request, { ok }));
      }
      case 'load':
        return context.reply(request, newest);
      case 'write':
      case 'read':
        return context.reply(request, { ok: false });
      default:
        return assertNever(body, 'register message');
    }
  }
};
