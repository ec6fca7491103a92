import test from 'ava';
import { ActorRuntime } from '../src/actors/runtime.js';
import { localClient } from '../src/actors/local-client.js';
import { silentLogger } from '../src/log.js';
import { CommitTable } from '../src/storage/commit-table.js';
import type { DiskReply } from '../src/storage/disk-protocol.js';
import { spawnDisk } from '../src/storage/spawn-disk.js';
import { DirectReads } from '../src/volumes/direct-reads.js';
import { pattern, temporaryDirectory } from './helpers/disk.js';

/**
 * Direct reads look through a region's older versions as the disk actor does (after a snapshot,
 * or an epoch moved by a restart, most data sits at an older epoch): a block's newest version at
 * or below the read's epoch answers, and a hole or a block no version holds goes to the actor.
 */
test('direct reads serve blocks of older versions, newest first, and leave holes and missing blocks to the actor', async (t) => {
  const runtime = await ActorRuntime.start({ threads: 0, log: silentLogger() });
  t.teardown(() => runtime.stop());
  const path = temporaryDirectory('whorl-direct-versions-');
  const commits = CommitTable.create();
  await spawnDisk(runtime, 'disk-0', {
    path,
    owner: 'server-0',
    capacityBytes: 64 * 1024 * 1024,
    create: true,
    commits: commits.buffer,
  });
  const client = localClient(runtime, 'tester');
  const write = async (epoch: number, block: number, count: number, fill: number): Promise<void> => {
    const lease = await runtime.pool.lease(count * 4096);
    for (let i = 0; i < count; i++) lease.bytes.set(pattern(fill + i), i * 4096);
    const body = { op: 'write', gmap: 1, epoch, block, count, handle: lease.handle, fua: true };
    t.like(await client.request<DiskReply>('disk-0', body), { ok: true });
    runtime.pool.release(lease.handle);
  };
  await write(1, 0, 4, 0x10); // blocks 0-3 at epoch 1
  await write(2, 1, 1, 0x20); // block 1 again at epoch 2
  const trim = { op: 'trim', gmap: 1, epoch: 2, block: 2, count: 1, fua: true };
  t.like(await client.request<DiskReply>('disk-0', trim), { ok: true }); // block 2: a hole at epoch 2
  await client.request<DiskReply>('disk-0', { op: 'flush' });
  while (commits.anyUncommitted()) await new Promise((resolve) => setTimeout(resolve, 5));

  const direct = new DirectReads(
    () => path,
    () => commits,
  );
  t.teardown(() => direct.closeAll());
  const into = Buffer.alloc(4 * 4096);
  const read = (epoch: number, block: number, count: number): boolean =>
    direct.read(0, 1, epoch, block, count, into.subarray(0, count * 4096));

  t.true(read(2, 0, 2), 'blocks 0-1 at epoch 2: block 0 from epoch 1, block 1 from epoch 2');
  t.true(into.subarray(0, 4096).equals(pattern(0x10)));
  t.true(into.subarray(4096, 8192).equals(pattern(0x20)));
  t.true(read(1, 1, 1), 'a read at epoch 1 (a snapshot) still sees its own version of block 1');
  t.true(into.subarray(0, 4096).equals(pattern(0x11)));
  t.true(read(5, 3, 1), 'a later epoch with no version of its own reads the newest below it');
  t.true(into.subarray(0, 4096).equals(pattern(0x13)));
  t.false(read(2, 2, 1), 'a hole at epoch 2 hides the data at epoch 1: the actor answers it');
  t.false(read(2, 4, 1), 'a block no version holds is the actor’s (zeros, or a base layer)');
  t.deepEqual([direct.served, direct.declined], [3, 2]);
});
