import type { Actor, Behavior, Incoming } from '../src/actors/actor.js';
import { address } from '../src/actors/address.js';

/** Flow-controlled streams of tells between two threads, for `npm run bench -- actors`. */
export const creditEvery = 1024;
export const creditMax = 4096;

export type BenchMessage =
  | { op: 'go'; to: string; count: number }
  | { op: 'n'; i: number }
  | { op: 'credit'; received: number }
  | { op: 'echo'; handle: unknown };

/** Sends `count` tells to the sink, never more than `creditMax` ahead of what it has confirmed. */
export function source(): Behavior<BenchMessage> {
  return (context): Actor<BenchMessage> => {
    let sent = 0;
    let confirmed = 0;
    let count = 0;
    let sink = address(context.self.node, 'sink');
    const pump = (): void => {
      while (sent < count && sent - confirmed < creditMax) context.send(sink, { op: 'n', i: sent++ });
    };
    return {
      receive(incoming: Incoming<BenchMessage>): void {
        const body = incoming.kind === 'tell' || incoming.kind === 'request' ? incoming.body : undefined;
        if (body?.op === 'go') {
          sink = address(context.self.node, body.to);
          count = body.count;
          sent = 0;
          confirmed = 0;
          pump();
        } else if (body?.op === 'credit') {
          confirmed = body.received;
          pump();
        }
      },
    };
  };
}

/** Counts tells, confirms every `creditEvery`, and tells `done` to the main thread at the end. */
export function sink(): Behavior<BenchMessage> {
  return (context): Actor<BenchMessage> => {
    let received = 0;
    return {
      receive(incoming: Incoming<BenchMessage>): void {
        if (incoming.kind === 'request' && incoming.body.op === 'echo') return context.reply(incoming, incoming.body);
        if (incoming.kind !== 'tell' || incoming.body.op !== 'n') return;
        received += 1;
        if (received % creditEvery === 0) context.send(incoming.from, { op: 'credit', received });
        if (received % creditEvery === 0) context.send(address(context.self.node, 'meter'), { op: 'credit', received });
      },
    };
  };
}
