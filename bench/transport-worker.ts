import { parentPort, type MessagePort } from 'node:worker_threads';
import { RingChannel, type RingChannelEnds } from '../src/actors/ring-channel.js';

/**
 * One side of `npm run bench -- actors`'s transport comparison: the same envelopes, flow control
 * and batching, carried either as arrays through postMessage (structured clone) or encoded into a
 * shared ring.
 */
export interface TransportSetup {
  readonly mode: 'post' | 'ring';
  readonly role: 'source' | 'sink';
  readonly port: MessagePort;
  readonly ends?: RingChannelEnds;
  readonly count: number;
}

export const creditEvery = 1024;
export const creditMax = 4096;

interface Credit {
  readonly received: number;
}

function envelope(i: number): unknown {
  return {
    kind: 'tell',
    from: { node: 'local', actor: 'source' },
    to: { node: 'local', actor: 'sink' },
    body: { op: 'n', i },
  };
}

/** Sends values in batches and calls `onValue` for each value that arrives; echo replies go back. */
export interface Link {
  send(value: unknown): void;
  flush(): void;
}

export function link(setup: TransportSetup, onValue: (value: unknown, link: Link) => void): Link {
  if (setup.mode === 'ring') {
    const channel: RingChannel = new RingChannel(
      setup.port,
      setup.ends!,
      (value) => onValue(value, channel),
      () => undefined,
      () => channel.flush(),
    );
    setup.port.ref();
    return channel;
  }
  let batch: unknown[] = [];
  const post: Link = {
    send: (value) => batch.push(value),
    flush: () => {
      if (batch.length === 0) return;
      setup.port.postMessage(batch);
      batch = [];
    },
  };
  setup.port.on('message', (values: unknown[]) => {
    for (const value of values) onValue(value, post);
    post.flush();
  });
  return post;
}

export function runSource(setup: TransportSetup): void {
  let sent = 0;
  let confirmed = 0;
  const pump = (out: Link): void => {
    while (sent < setup.count && sent - confirmed < creditMax) out.send(envelope(sent++));
    out.flush();
  };
  const out = link(setup, (value, l) => {
    confirmed = (value as Credit).received;
    pump(l);
  });
  pump(out);
}

export function runSink(setup: TransportSetup, done: (received: number) => void): void {
  let received = 0;
  let sum = 0;
  link(setup, (value, out) => {
    const message = value as { kind: string; body: { op: string; i: number } };
    if (message.body.op === 'echo') return out.send(message);
    sum += message.body.i;
    received += 1;
    if (received % creditEvery === 0) out.send({ received });
    if (received === setup.count) done(sum);
  });
}

parentPort?.once('message', (setup: TransportSetup) => {
  if (setup.role === 'source') runSource(setup);
  else runSink(setup, (sum) => parentPort!.postMessage({ sum }));
});
