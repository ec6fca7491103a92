import test from 'ava';
import { MessageChannel, Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { Ring } from '../src/actors/ring.js';
import { RingChannel, ringChannelPair } from '../src/actors/ring-channel.js';
import { ValueDecoder, ValueEncoder } from '../src/actors/value-codec.js';
import type { SlabDescriptor } from '../src/actors/buffer-pool.js';

const samples: unknown[] = [
  {
    kind: 'tell',
    from: { node: 'local', actor: 'a' },
    to: { node: 'local', actor: 'b' },
    body: { op: 'write', offset: 2 ** 40, handle: { slab: 3, offsetBytes: 4096, lengthBytes: 4096, generation: 7 } },
  },
  [1, -1, 0, -0, 2 ** 31, -(2 ** 31), 1.5, NaN, Infinity, null, undefined, true, false],
  { nested: { deeper: { list: ['x', 'é', '🌀', ''] } } },
  'a string longer than the interning limit '.repeat(4),
];

test('values survive the binary encoding exactly, and repeated strings are sent once', (t) => {
  const encoder = new ValueEncoder();
  const decoder = new ValueDecoder();
  const pass = (): { bytes: number; decoded: unknown[] } => {
    encoder.reset();
    for (const value of samples) encoder.value(value);
    const decoded: unknown[] = [];
    decoder.start(encoder.written().slice());
    while (!decoder.done) decoded.push(decoder.value());
    return { bytes: encoder.written().length, decoded };
  };
  const first = pass();
  const { bytes: secondBytes, decoded } = pass();
  t.deepEqual(first.decoded, samples);
  t.true(secondBytes < first.bytes, `interned strings shrink the second pass (${secondBytes} < ${first.bytes})`);
  t.deepEqual(decoded, samples);
  t.true(Object.is((decoded[1] as number[])[3], -0), '-0 keeps its sign');
});

test('what cannot travel in a message is refused, not silently changed', (t) => {
  const encoder = new ValueEncoder();
  t.throws(() => encoder.value({ bytes: new Uint8Array(4) }), { message: /plain objects/ });
  t.throws(() => encoder.value(() => 1), { message: /function cannot travel/ });
  const deep: Record<string, unknown> = {};
  let at = deep;
  for (let i = 0; i < 40; i++) at = (at.next = {}) as Record<string, unknown>;
  t.throws(() => encoder.value(deep), { message: /nests too deeply/ });
});

test('the ring wraps around, refuses a frame when full, and loses nothing', (t) => {
  const ring = Ring.create(1024);
  const written: number[] = [];
  const read: number[] = [];
  let next = 0;
  for (let round = 0; round < 200; round++) {
    // Frames of varying sizes, written until the ring refuses, then drained.
    for (;;) {
      const frame = new Uint8Array(1 + ((next * 37) % 300)).fill(next & 0xff);
      const result = ring.tryWrite(frame);
      if (result === false) break;
      written.push(next++);
    }
    ring.drain((frame) => {
      t.true(
        frame.every((b) => b === frame[0]),
        'a frame comes out whole',
      );
      read.push(frame.length);
      return true;
    });
  }
  t.is(read.length, written.length);
  t.deepEqual(
    read,
    written.map((n) => 1 + ((n * 37) % 300)),
  );
});

test('the doorbell rings only when the consumer went idle', (t) => {
  const ring = Ring.create(4096);
  t.is(ring.tryWrite(new Uint8Array(8)), 'wake', 'a new ring has an idle consumer');
  t.is(ring.tryWrite(new Uint8Array(8)), 'written', 'no second doorbell before the consumer drained');
  t.is(
    ring.drain(() => true),
    2,
  );
  t.is(ring.tryWrite(new Uint8Array(8)), 'wake');
});

test('a frame that carries handles into a new slab waits until that slab has arrived', async (t) => {
  const [mine, theirs] = ringChannelPair(64 * 1024);
  const { port1, port2 } = new MessageChannel();
  const received: unknown[] = [];
  const attached: number[] = [];
  const sender = new RingChannel(
    port1,
    mine,
    () => undefined,
    () => undefined,
    () => undefined,
  );
  const receiver = new RingChannel(
    port2,
    theirs,
    (value) => received.push({ ...(value as object), slabsAttachedWhenRead: attached.length }),
    (slabs: SlabDescriptor[]) => attached.push(...slabs.map((s) => s.id)),
    () => undefined,
  );
  port2.ref();
  sender.send({ before: 1 });
  sender.announceSlabs([
    {
      id: 9,
      slotBytes: 4096,
      slotCount: 1,
      data: new SharedArrayBuffer(4096),
      inUse: new SharedArrayBuffer(4),
      generation: new SharedArrayBuffer(4),
      free: new SharedArrayBuffer(4),
    },
  ]);
  sender.send({ handle: { slab: 9 } });
  sender.flush();
  while (received.length < 2) await once(port2, 'message');
  t.deepEqual(received, [
    { before: 1, slabsAttachedWhenRead: 0 },
    { handle: { slab: 9 }, slabsAttachedWhenRead: 1 },
  ]);
  t.deepEqual(attached, [9]);
  sender.close();
  receiver.close();
});

test('a million values cross to another thread in order through the ring', async (t) => {
  const [mine, theirs] = ringChannelPair(256 * 1024);
  const { port1, port2 } = new MessageChannel();
  const count = 1_000_000;
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.once('message', async ({ port, ends, count, module }) => {
       const { RingChannel } = await import(module);
       let sent = 0;
       const channel = new RingChannel(port, ends, () => undefined, () => undefined, () => undefined);
       const pump = () => {
         // More than the ring holds: the channel keeps the rest and retries.
         for (let i = 0; i < 20000 && sent < count; i++) channel.send({ i: sent++, tag: 'n' });
         channel.flush();
         if (sent < count) setImmediate(pump); else parentPort.postMessage('sent');
       };
       pump();
     });`,
    { eval: true },
  );
  let expected = 0;
  let outOfOrder = 0;
  const done = new Promise<void>((resolve) => {
    const receiver = new RingChannel(
      port2,
      theirs,
      (value) => {
        if ((value as { i: number }).i !== expected) outOfOrder += 1;
        expected += 1;
        if (expected === count) {
          receiver.close();
          resolve();
        }
      },
      () => undefined,
      () => undefined,
    );
    port2.ref();
  });
  worker.postMessage(
    { port: port1, ends: mine, count, module: new URL('../src/actors/ring-channel.js', import.meta.url).href },
    [port1],
  );
  await done;
  t.is(expected, count);
  t.is(outOfOrder, 0);
  await worker.terminate();
});
