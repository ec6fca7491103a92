import test from 'ava';
import { ActorRuntime } from '../src/actors/runtime.js';
import { localClient } from '../src/actors/local-client.js';
import { silentLogger } from '../src/log.js';
import { CommitTable } from '../src/storage/commit-table.js';
import type { DiskReply } from '../src/storage/disk-protocol.js';
import { spawnDisk } from '../src/storage/spawn-disk.js';
import { DirectReads } from '../src/storage/direct-reads.js';
import { pattern, temporaryDirectory } from './helpers/disk.js';

/**
 * Direct reads look through a region's older versions as the disk actor does (after a snapshot,
 * or an epoch moved by a restart, most data sits at an older epoch): a block's newest version at
 * or below the read's epoch answers; a hole, or a block no version holds on a disk with no base
 * layer, reads as zeros; a lost block, or a clone's block its own layers lack, goes to the actor.
 */
test('direct reads serve blocks of older versions, newest first, and holes; a clone’s missing blocks and lost blocks go to the actor', async (t) => {
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
  const lose = { op: 'lose', gmap: 1, epoch: 2, block: 3 };
  t.like(await client.request<DiskReply>('disk-0', lose), { ok: true }); // block 3: lost at epoch 2
  await client.request<DiskReply>('disk-0', { op: 'flush' });
  while (commits.anyUncommitted()) await new Promise((resolve) => setTimeout(resolve, 5));

  const direct = new DirectReads(
    () => path,
    () => commits,
  );
  t.teardown(() => direct.closeAll());
  const into = Buffer.alloc(4 * 4096);
  const read = (epoch: number, block: number, count: number, based = false): number[] | undefined =>
    direct.read(0, { gmap: 1, epoch, block, count, based }, into.subarray(0, count * 4096).fill(0xee));
  const zeros = Buffer.alloc(4096);

  t.deepEqual(read(2, 0, 2), [], 'blocks 0-1 at epoch 2: block 0 from epoch 1, block 1 from epoch 2');
  t.true(into.subarray(0, 4096).equals(pattern(0x10)));
  t.true(into.subarray(4096, 8192).equals(pattern(0x20)));
  t.deepEqual(read(1, 1, 1), [], 'a read at epoch 1 (a snapshot) still sees its own version of block 1');
  t.true(into.subarray(0, 4096).equals(pattern(0x11)));
  t.deepEqual(read(1, 3, 1), [], 'a read at epoch 1 sees block 3 before it was lost at epoch 2');
  t.true(into.subarray(0, 4096).equals(pattern(0x13)));
  t.deepEqual(read(2, 1, 2), [1], 'a hole at epoch 2 hides the data at epoch 1');
  t.true(into.subarray(0, 4096).equals(pattern(0x20)));
  t.true(into.subarray(4096, 8192).equals(zeros), 'the hole reads as zeros');
  t.deepEqual(read(2, 4, 1), [0], 'a block no version holds reads as zeros');
  t.true(into.subarray(0, 4096).equals(zeros));
  t.is(read(2, 4, 1, true), undefined, 'a clone’s block its own layers lack is the actor’s (its base layer)');
  t.is(read(5, 3, 1), undefined, 'a lost block is the actor’s to report');
  t.deepEqual([direct.served, direct.declined], [5, 2]);
});
