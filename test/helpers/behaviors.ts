import { threadId } from 'node:worker_threads';
import type { Actor, Behavior, Incoming } from '../../src/actors/actor.js';
import type { BufferHandle } from '../../src/actors/buffer-pool.js';

export type TestMessage =
  | { op: 'echo'; text: string }
  | { op: 'boom' }
  | { op: 'checksum'; handle: BufferHandle }
  | { op: 'hold'; handle: BufferHandle }
  | { op: 'ignore' };

/**
 * A worker-side test actor. 'echo' answers with where it runs; 'boom' throws; 'checksum' sums a
 * payload through its shared handle (no bytes in the message) and releases it; 'hold' keeps the
 * handle, adopted, so that the crash that follows returns it to the pool; 'ignore' never answers.
 */
export function testActor(): Behavior<TestMessage> {
  return (context): Actor<TestMessage> => {
    return {
      receive(incoming: Incoming<TestMessage>): void {
        if (incoming.kind !== 'request') return;
        const body = incoming.body;
        switch (body.op) {
          case 'echo':
            return context.reply(incoming, { text: body.text, incarnation: context.incarnation, threadId });
          case 'boom':
            throw new Error('boom');
          case 'checksum': {
            const bytes = context.view(body.handle);
            let sum = 0;
            for (const byte of bytes) sum = (sum + byte) >>> 0;
            context.release(body.handle);
            return context.reply(incoming, { sum, threadId });
          }
          case 'hold':
            context.adopt(body.handle);
            return context.reply(incoming, { held: true });
          case 'ignore':
            return;
        }
      },
    };
  };
}
