import test from 'ava';
import { threadId } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Actor, Incoming } from '../src/actors/actor.js';
import { address } from '../src/actors/address.js';
import { ActorRuntime } from '../src/actors/runtime.js';
import { silentLogger } from '../src/log.js';
import { localClient } from '../src/actors/local-client.js';
import type { DiskReply } from '../src/storage/disk-protocol.js';
import { spawnDisk } from '../src/storage/spawn-disk.js';
import { pattern, temporaryDirectory } from './helpers/disk.js';
import type { TestMessage } from './helpers/behaviors.js';

const behaviors = fileURLToPath(new URL('./helpers/behaviors.js', import.meta.url));
const spec = { module: behaviors, export: 'testActor' };

/** A main-thread actor that forwards requests for the test and resolves with their outcome. */
function caller(runtime: ActorRuntime) {
  const waiting = new Map<number, (outcome: unknown) => void>();
  let issue:
    ((to: string, body: TestMessage, timeoutMs: number, resolve: (outcome: unknown) => void) => void) | undefined;
  runtime.spawnLocal('caller', (context): Actor => {
    issue = (to, body, timeoutMs, resolve) =>
      waiting.set(context.request(address(runtime.node, to), body, timeoutMs), resolve);
    return {
      receive(incoming: Incoming<unknown>): void {
        if (incoming.kind === 'reply') waiting.get(incoming.requestId)?.(incoming.body);
        if (incoming.kind === 'failure') waiting.get(incoming.requestId)?.({ code: incoming.code });
        if (incoming.kind === 'reply' || incoming.kind === 'failure') waiting.delete(incoming.requestId);
      },
    };
  });
  // The tests read whichever reply fields their request kind has.
  return (to: string, body: TestMessage, timeoutMs = 2000) =>
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    new Promise<any>((resolve) => issue!(to, body, timeoutMs, resolve));
}

test('actors on worker threads answer requests from the main thread; many actors share a thread', async (t) => {
  const runtime = await ActorRuntime.start({ threads: 2, log: silentLogger() });
  t.teardown(() => runtime.stop());
  const ask = caller(runtime);
  for (const name of ['a', 'b', 'c', 'd']) await runtime.spawn(name, spec);
  const answers = await Promise.all(['a', 'b', 'c', 'd'].map((name) => ask(name, { op: 'echo', text: name })));
  t.deepEqual(
    answers.map((a) => a.text),
    ['a', 'b', 'c', 'd'],
  );
  const threads = new Set(answers.map((a) => a.threadId));
  t.is(threads.size, 2, 'four actors on two threads');
  t.false(threads.has(threadId), 'none on the main thread');
  t.deepEqual(await ask('nobody', { op: 'echo', text: 'x' }), { code: 'WHORL_ACTOR_STOPPED' });
});

test('an actor that throws is restarted with a new incarnation; its shared buffers come back', async (t) => {
  const runtime = await ActorRuntime.start({ threads: 1, log: silentLogger() });
  t.teardown(() => runtime.stop());
  const ask = caller(runtime);
  await runtime.spawn('worker', spec);
  const lease = runtime.pool.tryLease(4096)!;
  lease.bytes.fill(2);
  t.deepEqual(await ask('worker', { op: 'checksum', handle: lease.handle }), {
    sum: 8192,
    threadId: (await ask('worker', { op: 'echo', text: '' })).threadId,
  });
  t.is(runtime.pool.leased, 0, 'the worker released the slot it was handed');
  const held = runtime.pool.tryLease(65536)!;
  await ask('worker', { op: 'hold', handle: held.handle });
  t.is(runtime.pool.leased, 1);
  t.deepEqual(await ask('worker', { op: 'boom' }), { code: 'WHORL_STALE_INCARNATION' });
  t.is(runtime.pool.leased, 0, 'the crash returned the slot the dead incarnation held');
  t.is((await ask('worker', { op: 'echo', text: 'again' })).incarnation, 1);
});

test('a worker thread that dies is detected and its actors restart on another thread', async (t) => {
  const runtime = await ActorRuntime.start({ threads: 2, log: silentLogger() });
  t.teardown(() => runtime.stop());
  const ask = caller(runtime);
  await runtime.spawn('mover', spec, 1);
  const before = await ask('mover', { op: 'echo', text: 'before' });
  runtime.killThread(1);
  for (let i = 0; i < 100 && runtime.where('mover')!.thread === 1; i++)
    await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = await ask('mover', { op: 'echo', text: 'after' });
  t.is(after.text, 'after');
  t.is(after.incarnation, 1);
  t.not(after.threadId, before.threadId);
  t.deepEqual(runtime.threadIds, [2]);
});

test('a request to an actor whose thread dies fails once the actor runs elsewhere, not at its timeout', async (t) => {
  const runtime = await ActorRuntime.start({ threads: 2, log: silentLogger() });
  t.teardown(() => runtime.stop());
  const ask = caller(runtime);
  await runtime.spawn('mover', spec, 1);
  t.is((await ask('mover', { op: 'echo', text: 'here' })).text, 'here');
  const started = Date.now();
  const unanswered = ask('mover', { op: 'ignore' }, 60_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  runtime.killThread(1);
  t.deepEqual(await unanswered, { code: 'WHORL_STALE_INCARNATION' }, 'not WHORL_TIMEOUT a minute later');
  t.log(`failed after ${Date.now() - started} ms`);
  t.is(runtime.threadDeaths, 1);
  t.is((await ask('mover', { op: 'echo', text: 'moved' })).incarnation, 1);
});

test('orderly stop lets every worker exit by itself', async (t) => {
  const runtime = await ActorRuntime.start({ threads: 2, log: silentLogger() });
  await runtime.spawn('x', spec);
  const stopping = runtime.stop();
  t.is(runtime.stop(), stopping, 'idempotent');
  await stopping;
  t.deepEqual(runtime.threadIds, []);
});

test('when the only worker thread dies, a new one takes its place and its actors', async (t) => {
  const runtime = await ActorRuntime.start({ threads: 1, log: silentLogger() });
  t.teardown(() => runtime.stop());
  const ask = caller(runtime);
  await runtime.spawn('lonely', spec);
  const before = await ask('lonely', { op: 'echo', text: 'before' });
  runtime.killThread(1);
  for (let i = 0; i < 100 && runtime.where('lonely')!.incarnation === 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 20));
  let after = await ask('lonely', { op: 'echo', text: 'after' });
  // The replacement thread reuses the dead one's number: until the actor has started there, a
  // request reaches a thread that does not have it yet and fails (typed); retry a while.
  for (let i = 0; i < 100 && after.code; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await ask('lonely', { op: 'echo', text: 'after' });
  }
  t.is(after.text, 'after');
  t.is(after.incarnation, 1);
  t.not(after.threadId, before.threadId);
});

test('worker threads log JSON lines with the actor, its incarnation and the thread', async (t) => {
  const { run } = await import('./helpers/run.js');
  const probe = fileURLToPath(new URL('./helpers/log-probe.js', import.meta.url));
  const result = await run(process.execPath, [probe]);
  t.is(result.code, 0, result.stderr);
  const crashed = result.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .find((entry) => entry.msg === 'actor crashed');
  t.like(crashed, { actor: 'logger', incarnation: 0, thread: 1, err: 'boom', name: 'whorl' });
});

test('with no worker threads every actor runs on the main thread, a disk actor with its LMDB storage too', async (t) => {
  const runtime = await ActorRuntime.start({ threads: 0, log: silentLogger() });
  t.teardown(() => runtime.stop());
  const ask = caller(runtime);
  await runtime.spawn('a', spec);
  t.like(await ask('a', { op: 'echo', text: 'here' }), { text: 'here', threadId });
  const path = temporaryDirectory('whorl-main-thread-');
  const disk = { path, owner: 'server-0', capacityBytes: 64 * 1024 * 1024, create: true };
  await spawnDisk(runtime, 'disk-0', disk);
  const client = localClient(runtime, 'tester');
  const lease = await runtime.pool.lease(4096);
  lease.bytes.set(pattern(0x5a));
  const write = { op: 'write', gmap: 1, epoch: 0, block: 3, count: 1, handle: lease.handle, fua: true };
  t.like(await client.request<DiskReply>('disk-0', write), { ok: true });
  // Retired (its storage closed) and started again from its files, still on the main thread.
  await runtime.retire('disk-0');
  await spawnDisk(runtime, 'disk-0', { ...disk, create: false });
  lease.bytes.fill(0);
  const read = { op: 'read', gmap: 1, epoch: 0, block: 3, count: 1, handle: lease.handle };
  t.like(await client.request<DiskReply>('disk-0', read), { ok: true });
  t.true(Buffer.from(lease.bytes).equals(pattern(0x5a)));
  t.is(runtime.where('disk-0')?.thread, 0);
  runtime.pool.release(lease.handle);
});
