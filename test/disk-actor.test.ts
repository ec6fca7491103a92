import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { CpuJobs } from '../src/actors/cpu-jobs.js';
import { crc32cEach } from '../src/actors/crc32c.js';
import { scrubDisk } from '../src/storage/scrub.js';
import { blockEntry, pattern, startDisk, temporaryDirectory } from './helpers/disk.js';

test('blocks written read back; never-written blocks read as zeros; trim frees space', async (t) => {
  const disk = await startDisk({ path: temporaryDirectory() });
  t.teardown(() => disk.stop());
  t.deepEqual(await disk.write(1, 0, 10, [pattern(1), pattern(2)]), { ok: true });
  const { reply, bytes } = await disk.read(1, 0, 9, 4);
  t.deepEqual(reply, { ok: true, holes: [0, 3] });
  t.true(bytes.subarray(0, 4096).equals(Buffer.alloc(4096)), 'a hole reads as zeros');
  t.true(bytes.subarray(4096, 8192).equals(pattern(1)));
  t.true(bytes.subarray(8192, 12288).equals(pattern(2)));
  t.true(bytes.subarray(12288).equals(Buffer.alloc(4096)));
  t.like(await disk.ask({ op: 'stats' }), { ok: true, allocatedBytes: 8192 });

  t.deepEqual(await disk.ask({ op: 'trim', gmap: 1, epoch: 0, block: 0, count: 8192, fua: false }), { ok: true });
  t.like(await disk.ask({ op: 'stats' }), { allocatedBytes: 0 });
  t.deepEqual((await disk.read(1, 0, 10, 2)).reply, { ok: true, holes: [0, 1] });
  t.deepEqual((await disk.read(2, 0, 10, 1)).reply, { ok: true, holes: [0] }, 'global maps are separate');

  const last = 2 ** 48 - 1;
  t.deepEqual(await disk.write(1, 0, last, [pattern(3)]), { ok: true }, 'the last block number is usable');
  t.deepEqual(await disk.ask({ op: 'trim', gmap: 1, epoch: 0, block: last, count: 1, fua: false }), { ok: true });
  t.deepEqual((await disk.read(1, 0, last, 1)).reply, { ok: true, holes: [0] });
});

test('a read at an epoch finds the newest version at or below it; trim at a new epoch hides older data', async (t) => {
  const disk = await startDisk({ path: temporaryDirectory() });
  t.teardown(() => disk.stop());
  await disk.write(7, 1, 5, [pattern(0xa)]);
  await disk.write(7, 3, 5, [pattern(0xb)]);
  await disk.write(7, 2, 6, [pattern(0xc)]);
  const at = async (epoch: number, block: number) => (await disk.read(7, epoch, block, 1)).bytes[0];
  t.is(await at(0, 5), 0, 'before it was written');
  t.is(await at(1, 5), 0xa);
  t.is(await at(2, 5), 0xa, 'epoch 2 sees epoch 1');
  t.is(await at(3, 5), 0xb);
  t.is(await at(9, 5), 0xb);
  t.is(await at(9, 6), 0xc);
  await disk.ask({ op: 'trim', gmap: 7, epoch: 4, block: 5, count: 2, fua: false });
  t.is(await at(4, 5), 0, 'trimmed at epoch 4');
  t.is(await at(5, 6), 0, 'and in later epochs');
  t.is(await at(3, 5), 0xb, 'older epochs keep their versions');
  t.is(await at(3, 6), 0xc);
  await disk.write(7, 4, 5, [pattern(0xd)]);
  t.is(await at(4, 5), 0xd, 'a write after the hole replaces it');
});

test('prune frees the versions no live epoch sees and keeps those above the newest live epoch (a snapshot taken while it ran)', async (t) => {
  const disk = await startDisk({ path: temporaryDirectory() });
  t.teardown(() => disk.stop());
  for (const epoch of [0, 1, 2, 3]) await disk.write(9, epoch, 8, [pattern(0x10 + epoch)]);
  const at = async (epoch: number) => (await disk.read(9, epoch, 8, 1)).bytes[0];
  // Live epochs 0 and 2 (the epoch-1 snapshot was deleted); epoch 3 became current after the
  // collection learnt them: its write must stay.
  t.like(await disk.ask({ op: 'prune', gmap: 9, live: [0, 2] }), { ok: true, bytes: 4096 });
  t.is(await at(0), 0x10);
  t.is(await at(1), 0x10, 'epoch 1 is gone: a read there sees epoch 0');
  t.is(await at(2), 0x12);
  t.is(await at(3), 0x13, 'the version above the newest live epoch is kept');
  t.like(await disk.ask({ op: 'stats' }), { allocatedBytes: 3 * 4096 });
});

test('a corrupt block is reported with its address; its neighbours still read', async (t) => {
  const dir = temporaryDirectory();
  let disk = await startDisk({ path: dir });
  await disk.write(3, 0, 100, [pattern(1), pattern(2), pattern(3)], true);
  await disk.stop();
  // Flip one byte of block 101's data in the block file, and one bit of block 102's checksum in its
  // entry, as a failing medium would.
  const env = open<Buffer, string>({ path: dir, encoding: 'binary' });
  const get = (key: string): Uint8Array | undefined => env.get(key);
  const slot101 = blockEntry(get, 3, 101, 0).slot;
  flipByte(path.join(dir, 'blocks'), slot101 * 4096 + 2000);
  const block102 = blockEntry(get, 3, 102, 0);
  const slot102 = block102.slot;
  block102.entry.setData(block102.index, slot102, block102.crc ^ 0x1000);
  await env.put(block102.key, Buffer.from(block102.entry.encode()));
  await env.close();

  disk = await startDisk({ path: dir });
  t.teardown(() => disk.stop());
  t.deepEqual((await disk.read(3, 0, 100, 1)).reply, { ok: true, holes: [] });
  t.like((await disk.read(3, 0, 101, 1)).reply, {
    ok: false,
    code: 'WHORL_CHECKSUM',
    message: `checksum mismatch in gmap 3 block 101 epoch 0 (slot ${slot101})`,
  });
  t.like(
    (await disk.read(3, 0, 100, 3)).reply,
    { ok: false, code: 'WHORL_CHECKSUM', message: `checksum mismatch in gmap 3 block 101 epoch 0 (slot ${slot101})` },
    'a read of several blocks names the bad one',
  );
  t.like((await disk.read(3, 0, 102, 1)).reply, {
    ok: false,
    code: 'WHORL_CHECKSUM',
    message: `checksum mismatch in gmap 3 block 102 epoch 0 (slot ${slot102})`,
  });
  await disk.write(3, 0, 101, [pattern(9)]);
  t.is((await disk.read(3, 0, 101, 1)).bytes[0], 9, 'rewriting the block repairs it');
});

test('a full disk refuses writes with WHORL_NO_SPACE, keeps what it has, and accepts writes once space is freed', async (t) => {
  const disk = await startDisk({ path: temporaryDirectory(), capacityBytes: 16 * 4096 });
  t.teardown(() => disk.stop());
  const sixteen = Array.from({ length: 16 }, (_, i) => pattern(i + 1));
  t.deepEqual(await disk.write(0, 0, 0, sixteen), { ok: true });
  t.like(await disk.write(0, 0, 16, [pattern(99)]), {
    ok: false,
    code: 'WHORL_NO_SPACE',
    message: 'disk full: 65536 of 65536 bytes used, 4096 more needed',
  });
  t.deepEqual(await disk.write(0, 0, 3, [pattern(33)]), { ok: true }, 'overwriting takes no new space');
  await disk.ask({ op: 'trim', gmap: 0, epoch: 0, block: 0, count: 1, fua: false });
  t.like(
    await disk.write(0, 0, 15, [pattern(1), pattern(2), pattern(3)]),
    { ok: false, code: 'WHORL_NO_SPACE' },
    'a write that does not fit whole is refused whole',
  );
  t.is((await disk.read(0, 0, 15, 1)).bytes[0], 16, 'and changed nothing');
  t.deepEqual((await disk.read(0, 0, 16, 2)).reply, { ok: true, holes: [0, 1] });
  t.deepEqual(await disk.write(0, 0, 16, [pattern(77)]), { ok: true }, 'freed space is usable again');
  const { bytes } = await disk.read(0, 0, 1, 15);
  for (let i = 0; i < 15; i++) t.is(bytes[i * 4096], i + 1 === 3 ? 33 : i + 2, `block ${i + 1} intact`);
});

test('overwrites reuse the slots they let go of once a flush has passed: the block file stays near what is stored', async (t) => {
  const dir = temporaryDirectory();
  const disk = await startDisk({ path: dir });
  t.teardown(() => disk.stop());
  const sixteen = (round: number) => Array.from({ length: 16 }, (_, i) => pattern((round + i) & 0xff));
  // 1,000 overwrites of the same 64 KiB and never a FLUSH from the client: 16,000 slots let go of.
  for (let round = 0; round < 1000; round++) t.deepEqual(await disk.write(5, 0, 0, sixteen(round)), { ok: true });
  const { bytes } = await disk.read(5, 0, 0, 16);
  for (let i = 0; i < 16; i++) t.is(bytes[i * 4096], (999 + i) & 0xff);
  const slots = fs.statSync(path.join(dir, 'blocks')).size / 4096;
  // Stored 16, at most 4,096 waiting for the disk's own flush, one more batch written meanwhile.
  t.true(slots <= 16 + 2 * 4096 + 16, `block file holds ${slots} slots for 16 blocks`);
  t.like(await disk.ask({ op: 'stats' }), { allocatedBytes: 16 * 4096 });
});

test('busy bits and stale marks are durable, may be set twice, and are cleared lazily', async (t) => {
  const dir = temporaryDirectory();
  let disk = await startDisk({ path: dir });
  t.deepEqual(await disk.ask({ op: 'setMarks', kind: 'busy', gmap: 1, regions: [3, 4] }), { ok: true });
  t.deepEqual(await disk.ask({ op: 'setMarks', kind: 'busy', gmap: 1, regions: [4] }), { ok: true });
  t.deepEqual(await disk.ask({ op: 'setMarks', kind: 'stale', gmap: 2, regions: [9] }), { ok: true });
  await disk.ask({ op: 'clearMarks', kind: 'busy', gmap: 1, regions: [3] });
  t.deepEqual(await disk.ask({ op: 'listMarks', kind: 'busy' }), { ok: true, marks: [{ gmap: 1, region: 4 }] });
  await disk.ask({ op: 'flush' });
  await disk.stop();
  disk = await startDisk({ path: dir });
  t.teardown(() => disk.stop());
  t.deepEqual(await disk.ask({ op: 'listMarks', kind: 'busy' }), { ok: true, marks: [{ gmap: 1, region: 4 }] });
  t.deepEqual(await disk.ask({ op: 'listMarks', kind: 'stale' }), { ok: true, marks: [{ gmap: 2, region: 9 }] });
});

test('a write or trim carrying stale regions marks them before its data, in the same request; bad regions are refused', async (t) => {
  const dir = temporaryDirectory();
  let disk = await startDisk({ path: dir });
  const lease = await disk.runtime.pool.lease(4096);
  const handle = lease.handle;
  t.deepEqual(
    await disk.ask({ op: 'write', gmap: 3, epoch: 0, block: 16 * 5, count: 1, handle, fua: false, stale: [5] }),
    { ok: true },
  );
  t.like(await disk.ask({ op: 'write', gmap: 3, epoch: 0, block: 0, count: 1, handle, fua: false, stale: [-1] }), {
    ok: false,
    code: 'WHORL_BAD_ARGUMENT',
    message: 'stale regions -1 are not region numbers',
  });
  t.deepEqual(await disk.ask({ op: 'trim', gmap: 3, epoch: 0, block: 16 * 7, count: 1, fua: false, stale: [7] }), {
    ok: true,
  });
  t.deepEqual(await disk.ask({ op: 'listMarks', kind: 'stale' }), {
    ok: true,
    marks: [
      { gmap: 3, region: 5 },
      { gmap: 3, region: 7 },
    ],
  });
  t.deepEqual((await disk.read(3, 0, 0, 1)).reply, { ok: true, holes: [0] }, 'the refused write changed nothing');
  // A FUA write makes its marks durable with its data.
  t.deepEqual(
    await disk.ask({ op: 'write', gmap: 3, epoch: 0, block: 16 * 9, count: 1, handle, fua: true, stale: [9] }),
    { ok: true },
  );
  disk.runtime.pool.release(handle);
  await disk.stop();
  disk = await startDisk({ path: dir });
  t.teardown(() => disk.stop());
  t.deepEqual(await disk.ask({ op: 'listMarks', kind: 'stale' }), {
    ok: true,
    marks: [5, 7, 9].map((region) => ({ gmap: 3, region })),
  });
});

test("a write carrying its blocks' checksums stores those, not its own; malformed ones are refused", async (t) => {
  const disk = await startDisk({ path: temporaryDirectory() });
  t.teardown(() => disk.stop());
  const lease = await disk.runtime.pool.lease(2 * 4096);
  t.teardown(() => disk.runtime.pool.release(lease.handle));
  lease.bytes.set(pattern(1), 0);
  lease.bytes.set(pattern(2), 4096);
  const right = crc32cEach(lease.bytes, 4096);
  t.deepEqual(
    await disk.ask({
      op: 'write',
      gmap: 1,
      epoch: 0,
      block: 0,
      count: 2,
      handle: lease.handle,
      fua: false,
      crcs: right,
    }),
    { ok: true },
  );
  t.like((await disk.read(1, 0, 0, 2)).reply, { ok: true }, "the sender's checksums match the data");
  // A checksum that does not match its data: the disk stored it, so the read says so.
  t.deepEqual(
    await disk.ask({
      op: 'write',
      gmap: 1,
      epoch: 0,
      block: 2,
      count: 2,
      handle: lease.handle,
      fua: false,
      crcs: [right[0]!, right[1]! ^ 1],
    }),
    { ok: true },
  );
  t.like((await disk.read(1, 0, 2, 1)).reply, { ok: true });
  t.like((await disk.read(1, 0, 3, 1)).reply, {
    ok: false,
    code: 'WHORL_CHECKSUM',
    message: 'checksum mismatch in gmap 1 block 3 epoch 0 (slot 3)',
  });
  t.like(
    await disk.ask({
      op: 'write',
      gmap: 1,
      epoch: 0,
      block: 8,
      count: 2,
      handle: lease.handle,
      fua: false,
      crcs: [right[0]!],
    }),
    { ok: false, code: 'WHORL_BAD_ARGUMENT', message: `crcs ${right[0]} are not 2 32-bit checksums` },
  );
  t.like(
    await disk.ask({
      op: 'write',
      gmap: 1,
      epoch: 0,
      block: 8,
      count: 2,
      handle: lease.handle,
      fua: false,
      crcs: [right[0]!, 2 ** 32],
    }),
    { ok: false, code: 'WHORL_BAD_ARGUMENT' },
  );
  t.deepEqual((await disk.read(1, 0, 8, 2)).reply, { ok: true, holes: [0, 1] }, 'refused writes changed nothing');
});

test('malformed requests are refused with the offending value and change nothing', async (t) => {
  const disk = await startDisk({ path: temporaryDirectory() });
  t.teardown(() => disk.stop());
  const lease = disk.runtime.pool.tryLease(4096)!;
  t.teardown(() => disk.runtime.pool.release(lease.handle));
  t.like(await disk.ask({ op: 'write', gmap: 0, epoch: 0, block: 0, count: 2, handle: lease.handle, fua: false }), {
    ok: false,
    code: 'WHORL_BAD_ARGUMENT',
    message: 'write of 2 blocks carries 4096 bytes, not 8192',
  });
  t.like(await disk.ask({ op: 'read', gmap: 0, epoch: 0, block: 0, count: 0, handle: lease.handle }), {
    code: 'WHORL_BAD_ARGUMENT',
    message: 'count 0 is not in 1..8192',
  });
  t.like(await disk.ask({ op: 'trim', gmap: -1, epoch: 0, block: 0, count: 1, fua: false }), {
    code: 'WHORL_BAD_ARGUMENT',
    message: 'gmap -1 is not an integer in 0..4294967295',
  });
  t.like(await disk.ask({ op: 'read', gmap: 0, epoch: 0, block: 2 ** 48 - 1, count: 2, handle: lease.handle }), {
    code: 'WHORL_BAD_ARGUMENT',
    message: 'blocks 281474976710655+2 exceed block 281474976710655',
  });
  t.like(await disk.ask({ op: 'stats' }), { allocatedBytes: 0 });
});

test('opening checks the directory: wrong owner, capacity, foreign files, damage, a file — each a clear error naming the path', async (t) => {
  const dir = temporaryDirectory();
  const disk = await startDisk({ path: dir, owner: 'server-1', capacityBytes: 1 << 20 });
  await disk.write(0, 0, 0, [pattern(5)], true);
  await disk.stop();
  const refused = async (options: Parameters<typeof startDisk>[0], message: RegExp) => {
    const error = await t.throwsAsync(startDisk(options));
    t.regex(error!.message, message);
  };
  await refused(
    { path: dir, owner: 'server-2', capacityBytes: 1 << 20 },
    new RegExp(`disk ${dir} belongs to server-1, not server-2`),
  );
  await refused(
    { path: dir, owner: 'server-1', capacityBytes: 2 << 20 },
    /has capacity 1048576 bytes, not the 2097152 configured/,
  );
  await refused({ path: path.join(dir, 'data.mdb'), owner: 'server-1' }, /is not a directory/);
  const foreign = temporaryDirectory();
  fs.writeFileSync(path.join(foreign, 'notes.txt'), 'precious');
  await refused({ path: foreign }, /holds files but no data.mdb: not a whorl disk \(refusing to format it\)/);
  t.is(fs.readFileSync(path.join(foreign, 'notes.txt'), 'utf8'), 'precious', 'nothing formatted over it');
  await refused({ path: temporaryDirectory(), create: false }, /holds no whorl disk/);
  const damaged = temporaryDirectory();
  fs.writeFileSync(path.join(damaged, 'data.mdb'), Buffer.alloc(65536, 0x5a));
  await refused({ path: damaged }, /has a damaged data.mdb \(no LMDB meta page at the start\)/);
  fs.writeFileSync(path.join(damaged, 'data.mdb'), fs.readFileSync(path.join(dir, 'data.mdb')).subarray(0, 5000));
  await refused({ path: damaged }, /has a damaged data.mdb \(5000 bytes is shorter than two meta pages\)/);
  const noBlocks = temporaryDirectory();
  fs.copyFileSync(path.join(dir, 'data.mdb'), path.join(noBlocks, 'data.mdb'));
  await refused(
    { path: noBlocks, owner: 'server-1', capacityBytes: 1 << 20 },
    new RegExp(`disk ${noBlocks} has data.mdb but no blocks file: damaged`),
  );
  const older = temporaryDirectory();
  const v2 = open<Buffer, string>({ path: older, encoding: 'binary' });
  await v2.put(
    'meta:format',
    Buffer.from(
      JSON.stringify({
        format: 'whorl-disk',
        version: 2,
        owner: 'server-1',
        capacityBytes: 1 << 20,
        blockBytes: 4096,
        pageSizeBytes: 4096,
      }),
    ),
  );
  await v2.close();
  await refused(
    { path: older, owner: 'server-1', capacityBytes: 1 << 20 },
    /has format whorl-disk version 2; this whorl reads whorl-disk versions 3, 4, 5 and 6/,
  );
  t.deepEqual(fs.readdirSync(older).sort(), ['data.mdb', 'lock.mdb'], 'an older disk is left as it was');

  const again = await startDisk({ path: dir, owner: 'server-1', capacityBytes: 1 << 20, create: false });
  t.is((await again.read(0, 0, 0, 1)).bytes[0], 5, 'the disk itself is untouched by the refused opens');
  await again.stop();
});

test('scrub runs as piscina jobs beside the running disk and reports exactly the corrupt blocks', async (t) => {
  const dir = temporaryDirectory();
  let disk = await startDisk({ path: dir });
  const blocks = 10_000;
  for (let block = 0; block < blocks; block += 250) {
    await disk.write(
      4,
      0,
      block,
      Array.from({ length: 250 }, (_, i) => pattern((block + i) & 0xff)),
    );
  }
  await disk.ask({ op: 'flush' });
  await disk.stop();
  const env = open<Buffer, string>({ path: dir, encoding: 'binary' });
  for (const block of [17, 4097, 9999])
    flipByte(
      path.join(dir, 'blocks'),
      blockEntry((key) => env.get(key), 4, block, 0).slot * 4096 + 100 + (block % 3000),
    );
  await env.close();

  disk = await startDisk({ path: dir });
  t.teardown(() => disk.stop());
  const jobs = new CpuJobs(disk.runtime.pool, 2);
  t.teardown(() => jobs.close());
  // Meanwhile the disk rewrites blocks and flushes, so the slots they let go of are reused under
  // the scan: none of that may be reported.
  let scrubbing = true;
  const rewrites = (async () => {
    for (let round = 0; scrubbing; round++) {
      await disk.write(
        4,
        0,
        5000 + (round % 50) * 16,
        Array.from({ length: 16 }, (_, i) => pattern((round + i) & 0xff)),
      );
      await disk.ask({ op: 'flush' });
    }
  })();
  const report = await scrubDisk(jobs, dir);
  scrubbing = false;
  await rewrites;
  t.is(report.checkedBlocks, blocks);
  t.deepEqual(
    report.corrupt,
    [17, 4097, 9999].map((block) => ({ gmap: 4, block, epoch: 0 })),
  );
  t.deepEqual((await disk.read(4, 0, 18, 1)).reply, { ok: true, holes: [] }, 'the disk kept serving meanwhile');
});

/** Flips every bit of one byte of a file, in place. */
function flipByte(file: string, at: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, at);
    byte[0]! ^= 0xff;
    fs.writeSync(fd, byte, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}
