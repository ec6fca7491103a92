import test from 'ava';
import net from 'node:net';
import { ActorRuntime } from '../src/actors/runtime.js';
import { address } from '../src/actors/address.js';
import { localClient } from '../src/actors/local-client.js';
import type { BufferHandle } from '../src/actors/buffer-pool.js';
import type { DiskReply } from '../src/storage/disk-protocol.js';
import { createLogger, silentLogger } from '../src/log.js';
import { spawnDisk } from '../src/storage/spawn-disk.js';
import { linkNodes } from '../src/transport/node-links.js';
import { isWhorlError } from '../src/errors.js';
import { temporaryDirectory, pattern } from './helpers/disk.js';

/**
 * Two nodes in this process, each its own actor runtime (worker threads, buffer pool) joined by
 * node links over loopback TCP. Node `b` runs a real disk actor (LMDB) on a worker thread; node
 * `a` asks it from its main thread, as a replica group on one host asks a disk on another.
 */
async function twoNodes(t: import('ava').ExecutionContext, options: { inFlightBytesMax?: number } = {}) {
  const log = process.env.DEBUG_LINKS ? createLogger('debug') : silentLogger();
  const a = await ActorRuntime.start({ node: 'a', threads: 1, log });
  const b = await ActorRuntime.start({ node: 'b', threads: 1, log });
  await spawnDisk(b, 'disk-0', {
    path: temporaryDirectory('whorl-transport-'),
    owner: 'server-0',
    capacityBytes: 64 * 1024 * 1024,
    create: true,
  });
  const linkA = await linkNodes(a, { cluster: 'c1', log, listen: { host: '127.0.0.1', port: 0 }, ...options });
  const linkB = await linkNodes(b, { cluster: 'c1', log, listen: { host: '127.0.0.1', port: 0 }, ...options });
  linkA.links.addPeer('b', '127.0.0.1', linkB.port);
  linkB.links.addPeer('a', '127.0.0.1', linkA.port);
  t.teardown(async () => {
    await linkA.links.close();
    await linkB.links.close();
    await a.stop();
    await b.stop();
  });
  await until(() => linkA.links.isUp('b') && linkB.links.isUp('a'));
  const client = localClient(a, 'tester');
  const disk = address('b', 'disk-0');
  const withLease = async <T>(bytes: number, use: (handle: BufferHandle, view: Buffer) => Promise<T>) => {
    const lease = await a.pool.lease(bytes);
    try {
      return await use(lease.handle, lease.bytes);
    } finally {
      a.pool.release(lease.handle);
    }
  };
  const write = (block: number, data: Buffer) =>
    withLease(data.length, (handle, view) => {
      data.copy(view);
      const count = data.length / 4096;
      return client.request<DiskReply>(disk, { op: 'write', gmap: 1, epoch: 0, block, count, handle, fua: false });
    });
  const read = (block: number, count: number) =>
    withLease(count * 4096, async (handle, view) => {
      view.fill(0xee);
      const reply = await client.request<DiskReply>(disk, { op: 'read', gmap: 1, epoch: 0, block, count, handle });
      return { reply, bytes: Buffer.from(view) };
    });
  return { a, b, links: { a: linkA.links, b: linkB.links }, ports: { a: linkA.port, b: linkB.port }, write, read };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('an actor on one node writes and reads a disk actor on another: payloads both ways, buffers given back', async (t) => {
  const nodes = await twoNodes(t);
  const leasedBefore = { a: nodes.a.pool.leased, b: nodes.b.pool.leased };
  const data = Buffer.concat([pattern(0x11), pattern(0x22), pattern(0x33)]);
  t.like(await nodes.write(10, data), { ok: true });
  const { reply, bytes } = await nodes.read(9, 5);
  t.like(reply, { ok: true, holes: [0, 4] });
  t.true(bytes.subarray(4096, 4 * 4096).equals(data), 'the written blocks came back over the link');
  t.true(bytes.subarray(0, 4096).equals(Buffer.alloc(4096)), 'a hole read as zeros on the other node');
  // Many at once, of several sizes, out of order: each reply finds its own buffer.
  const writes = Array.from({ length: 64 }, (_, i) =>
    nodes.write(100 + i * 8, Buffer.concat(Array.from({ length: 1 + (i % 8) }, (_, k) => pattern((i + k) & 0xff)))),
  );
  for (const written of await Promise.all(writes)) t.like(written, { ok: true });
  const reads = await Promise.all(Array.from({ length: 64 }, (_, i) => nodes.read(100 + i * 8, 1 + (i % 8))));
  reads.forEach(({ bytes }, i) => {
    for (let k = 0; k < 1 + (i % 8); k++) t.is(bytes[k * 4096], (i + k) & 0xff, `write ${i} block ${k}`);
  });
  await until(() => nodes.links.b.lentBuffers === 0);
  t.is(nodes.b.pool.leased, leasedBefore.b, 'node b gave back every buffer it lent to requests');
  t.is(nodes.a.pool.leased, leasedBefore.a);
});

test('a lost link fails what waits on it at once, redials, and carries requests again', async (t) => {
  const nodes = await twoNodes(t);
  t.like(await nodes.write(0, pattern(1)), { ok: true });
  // Hold node b's disk busy behind a stream of writes, cut the link under them.
  const inFlight = Array.from({ length: 32 }, (_, i) =>
    nodes.write(8 + i, pattern(i)).catch((error: unknown) => error),
  );
  const started = Date.now();
  (nodes.links.a as unknown as { peers: Map<string, { link?: { socket: net.Socket } }> }).peers
    .get('b')!
    .link!.socket.destroy();
  const outcomes = await Promise.all(inFlight);
  t.true(Date.now() - started < 5_000, 'nobody waited for a request timeout');
  for (const outcome of outcomes) {
    if (outcome instanceof Error) t.true(isWhorlError(outcome, 'WHORL_UNREACHABLE'), String(outcome));
    else t.like(outcome, { ok: true });
  }
  await until(() => nodes.links.a.isUp('b') && nodes.links.b.isUp('a'));
  t.like(await nodes.write(0, pattern(2)), { ok: true });
  t.is((await nodes.read(0, 1)).bytes[0], 2);
});

/** A TCP relay to `port` that can go silent (drop every byte both ways, close nothing): a cut network. */
async function relay(port: number) {
  let silent = false;
  const server = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1');
    inbound.on('data', (chunk) => silent || outbound.write(chunk));
    outbound.on('data', (chunk) => silent || inbound.write(chunk));
    const end = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('close', end).on('error', end);
    outbound.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    silence: (on: boolean) => (silent = on),
    close: () => server.close(),
  };
}

test('a link that goes silent (a cut network: no RST) closes within seconds and fails what waits on it', async (t) => {
  const nodes = await twoNodes(t);
  const cut = await relay(nodes.ports.b);
  t.teardown(() => cut.close());
  // Node a dials b through the relay from now on.
  (nodes.links.a as unknown as { peers: Map<string, { link?: { socket: net.Socket } }> }).peers
    .get('b')!
    .link!.socket.destroy();
  nodes.links.a.addPeer('b', '127.0.0.1', cut.port);
  await until(() => !nodes.links.b.isUp('a'));
  await until(() => nodes.links.a.isUp('b') && nodes.links.b.isUp('a'));
  t.like(await nodes.write(0, pattern(1)), { ok: true });
  // Idle links stay up: pings keep them heard.
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  t.true(nodes.links.a.isUp('b') && nodes.links.b.isUp('a'), 'an idle link is not taken for a cut one');
  cut.silence(true);
  const started = Date.now();
  const waiting = nodes.read(0, 1).catch((error: unknown) => error);
  const outcome = await waiting;
  t.true(isWhorlError(outcome, 'WHORL_UNREACHABLE'), String(outcome));
  t.true(Date.now() - started < 6_000, `failed after ${Date.now() - started} ms, not a request timeout`);
  await until(() => !nodes.links.b.isUp('a'), 6_000);
  cut.silence(false);
  await until(() => nodes.links.a.isUp('b') && nodes.links.b.isUp('a'), 10_000);
  t.is((await nodes.read(0, 1)).bytes[0], 1);
});

test('a peer that sends garbage loses its connection; the other links carry on', async (t) => {
  const nodes = await twoNodes(t);
  for (const garbage of [
    Buffer.from('GET / HTTP/1.1\r\n\r\n'),
    Buffer.concat([Buffer.from('WHL1'), Buffer.from([2, 0, 0, 0]), Buffer.alloc(8, 0xff)]),
  ]) {
    const socket = net.connect(nodes.ports.b, '127.0.0.1');
    socket.resume(); // read (and drop) its hello, so that its close is seen
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(garbage);
    await new Promise((resolve) => socket.once('close', resolve));
    t.pass('closed');
  }
  t.like(await nodes.write(0, pattern(7)), { ok: true });
  t.is((await nodes.read(0, 1)).bytes[0], 7);
});

test('requests to a node that is not connected fail with WHORL_UNREACHABLE', async (t) => {
  const nodes = await twoNodes(t);
  const client = localClient(nodes.a, 'elsewhere');
  const error = await t.throwsAsync(client.request(address('nowhere', 'disk-0'), { op: 'stats' }));
  t.true(isWhorlError(error, 'WHORL_UNREACHABLE'), String(error));
});

test('a receiver holding more than its in-flight bound stops reading; everything still completes', async (t) => {
  const nodes = await twoNodes(t, { inFlightBytesMax: 256 * 1024 });
  const big = Buffer.concat(Array.from({ length: 64 }, (_, k) => pattern(k)));
  const writes = Array.from({ length: 24 }, (_, i) => nodes.write(i * 64, big));
  for (const written of await Promise.all(writes)) t.like(written, { ok: true });
  const { bytes } = await nodes.read(23 * 64, 64);
  t.true(bytes.equals(big));
  await until(() => nodes.links.b.lentBuffers === 0);
});
