import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { Actor, Incoming } from '../src/actors/actor.js';
import { address } from '../src/actors/address.js';
import { ActorRuntime } from '../src/actors/runtime.js';
import { silentLogger } from '../src/log.js';
import { ringChannelPair } from '../src/actors/ring-channel.js';
import { link, type TransportSetup } from './transport-worker.js';
import { arg } from './args.js';

/**
 * `npm run bench -- actors`: one-way messages per second between two worker threads and
 * request/reply round trips carrying a 4 KiB payload handle, through the runtime (envelopes
 * encoded into shared rings) and through raw postMessage (one message per postMessage) in the
 * same run; then the two transports alone: batched postMessage against the ring.
 */
const behaviors = fileURLToPath(new URL('./actor-behaviors.js', import.meta.url));

interface Figures {
  perSecond: number;
  p50Us: number;
  p99Us: number;
}

export async function benchActors(args: string[]): Promise<void> {
  // Sinks confirm every 1024 messages, so the count is a multiple of that.
  const count = Math.max(1, Math.floor(Number(arg(args, 'messages', '2000000')) / 1024)) * 1024;
  const trips = Number(arg(args, 'trips', '20000'));
  const runtime = await throughRuntime(count, trips);
  const raw = await throughRawPostMessage(count, trips);
  const transports = {
    post: await throughTransport('post', count, trips),
    ring: await throughTransport('ring', count, trips),
  };
  console.log('');
  console.log(`${fmt(count)} one-way messages, ${fmt(trips)} round trips`);
  console.log('| measure | runtime (ring) | raw postMessage | runtime / raw | goal |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| one-way messages/s, 2 worker threads | ${fmt(runtime.perSecond)} | ${fmt(raw.perSecond)} | ${(runtime.perSecond / raw.perSecond).toFixed(2)}× | ≥ 1,000,000 |`,
  );
  console.log(
    `| round trip p50, 4 KiB handle | ${runtime.p50Us.toFixed(1)} µs | ${raw.p50Us.toFixed(1)} µs | ${(runtime.p50Us / raw.p50Us).toFixed(2)}× | ≤ 20 µs |`,
  );
  console.log(
    `| round trip p99, 4 KiB handle | ${runtime.p99Us.toFixed(1)} µs | ${raw.p99Us.toFixed(1)} µs | ${(runtime.p99Us / raw.p99Us).toFixed(2)}× | |`,
  );
  console.log(
    '| payload bytes copied per round trip | 0 (the handle is 4 numbers; bytes stay in the slab) | — | | 0 |',
  );
  console.log('');
  console.log('Transports alone (same envelopes, batches and credits; no actors):');
  console.log('| measure | batched postMessage | shared ring, binary encoding | ring / postMessage |');
  console.log('|---|---|---|---|');
  const { post, ring } = transports;
  console.log(
    `| one-way messages/s | ${fmt(post.perSecond)} | ${fmt(ring.perSecond)} | ${(ring.perSecond / post.perSecond).toFixed(2)}× |`,
  );
  console.log(
    `| round trip p50 | ${post.p50Us.toFixed(1)} µs | ${ring.p50Us.toFixed(1)} µs | ${(ring.p50Us / post.p50Us).toFixed(2)}× |`,
  );
  console.log(
    `| round trip p99 | ${post.p99Us.toFixed(1)} µs | ${ring.p99Us.toFixed(1)} µs | ${(ring.p99Us / post.p99Us).toFixed(2)}× |`,
  );
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function throughRuntime(count: number, trips: number): Promise<Figures> {
  const runtime = await ActorRuntime.start({ threads: 2, log: silentLogger() });
  await runtime.spawn('source', { module: behaviors, export: 'source' }, 1);
  await runtime.spawn('sink', { module: behaviors, export: 'sink' }, 2);
  let onCredit: (received: number) => void = () => undefined;
  let onReply: () => void = () => undefined;
  let request: (body: unknown) => void = () => undefined;
  runtime.spawnLocal('meter', (context): Actor => {
    request = (body) => context.request(address(runtime.node, 'sink'), body, 5000);
    return {
      receive(incoming: Incoming<unknown>): void {
        if (incoming.kind === 'tell') onCredit((incoming.body as { received: number }).received);
        if (incoming.kind === 'reply') onReply();
      },
    };
  });
  const started = performance.now();
  const done = new Promise<void>((resolve) => (onCredit = (received) => received >= count && resolve()));
  runtime.host.route({
    kind: 'tell',
    from: address(runtime.node, 'meter'),
    to: address(runtime.node, 'source'),
    body: { op: 'go', to: 'sink', count },
  });
  await done;
  const perSecond = count / ((performance.now() - started) / 1000);

  const lease = runtime.pool.tryLease(4096)!;
  const samples: number[] = [];
  for (let i = 0; i < trips; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      onReply = resolve;
      request({ op: 'echo', handle: lease.handle });
    });
    samples.push((performance.now() - t0) * 1000);
  }
  runtime.pool.release(lease.handle);
  await runtime.stop();
  return { perSecond, ...percentiles(samples) };
}

const rawWorker = `
const { parentPort } = require('node:worker_threads');
parentPort.once('message', ({ port, role, count }) => {
  if (role === 'sink') {
    let received = 0;
    port.on('message', (m) => {
      if (m.op === 'echo') return port.postMessage(m);
      received += 1;
      if (received % 1024 === 0) { port.postMessage({ op: 'credit', received }); parentPort.postMessage({ op: 'credit', received }); }
    });
  } else {
    let sent = 0, confirmed = 0;
    const pump = () => { while (sent < count && sent - confirmed < 4096) port.postMessage({ op: 'n', i: sent++ }); };
    port.on('message', (m) => { confirmed = m.received; pump(); });
    pump();
  }
});`;

async function throughRawPostMessage(count: number, trips: number): Promise<Figures> {
  const { port1, port2 } = new MessageChannel();
  const sinkWorker = new Worker(rawWorker, { eval: true });
  const sourceWorker = new Worker(rawWorker, { eval: true });
  const started = performance.now();
  const done = new Promise<void>((resolve) =>
    sinkWorker.on(
      'message',
      (m: { op: string; received: number }) => m.op === 'credit' && m.received >= count && resolve(),
    ),
  );
  sinkWorker.postMessage({ port: port1, role: 'sink', count }, [port1]);
  sourceWorker.postMessage({ port: port2, role: 'source', count }, [port2]);
  await done;
  const perSecond = count / ((performance.now() - started) / 1000);
  await sourceWorker.terminate();
  await sinkWorker.terminate();

  const { port1: mine, port2: theirs } = new MessageChannel();
  const echo = new Worker(rawWorker, { eval: true });
  echo.postMessage({ port: theirs, role: 'sink', count: 0 }, [theirs]);
  const samples: number[] = [];
  const handle = { slab: 0, offsetBytes: 0, lengthBytes: 4096, generation: 1 };
  for (let i = 0; i < trips; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      mine.once('message', () => resolve());
      mine.postMessage({ op: 'echo', handle });
    });
    samples.push((performance.now() - t0) * 1000);
  }
  mine.close();
  await echo.terminate();
  return { perSecond, ...percentiles(samples) };
}

const transportWorker = fileURLToPath(new URL('./transport-worker.js', import.meta.url));

async function throughTransport(mode: 'post' | 'ring', count: number, trips: number): Promise<Figures> {
  const [sourceEnds, sinkEnds] = ringChannelPair();
  const { port1, port2 } = new MessageChannel();
  const sink = new Worker(transportWorker);
  const source = new Worker(transportWorker);
  const started = performance.now();
  const done = new Promise<void>((resolve) => sink.once('message', () => resolve()));
  sink.postMessage({ mode, role: 'sink', port: port1, ends: sinkEnds, count } satisfies TransportSetup, [port1]);
  source.postMessage({ mode, role: 'source', port: port2, ends: sourceEnds, count } satisfies TransportSetup, [port2]);
  await done;
  const perSecond = count / ((performance.now() - started) / 1000);
  await source.terminate();
  await sink.terminate();

  const [mineEnds, theirEnds] = ringChannelPair();
  const { port1: mine, port2: theirs } = new MessageChannel();
  const echo = new Worker(transportWorker);
  echo.postMessage({ mode, role: 'sink', port: theirs, ends: theirEnds, count: 0 } satisfies TransportSetup, [theirs]);
  let onReply: () => void = () => undefined;
  const out = link({ mode, role: 'source', port: mine, ends: mineEnds, count: 0 }, () => onReply());
  const handle = { slab: 0, offsetBytes: 0, lengthBytes: 4096, generation: 1 };
  const samples: number[] = [];
  for (let i = 0; i < trips; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      onReply = resolve;
      out.send({
        kind: 'request',
        from: { node: 'local', actor: 'meter' },
        to: { node: 'local', actor: 'sink' },
        requestId: i,
        body: { op: 'echo', handle },
      });
      out.flush();
    });
    samples.push((performance.now() - t0) * 1000);
  }
  mine.close();
  await echo.terminate();
  return { perSecond, ...percentiles(samples) };
}

function percentiles(samples: number[]): { p50Us: number; p99Us: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50Us: sorted[Math.floor(sorted.length * 0.5)]!, p99Us: sorted[Math.floor(sorted.length * 0.99)]! };
}
