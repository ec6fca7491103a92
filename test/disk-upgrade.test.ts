import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { open } from 'lmdb';
import { crc32c } from '../src/actors/crc32c.js';
import { pattern, startDisk, temporaryDirectory } from './helpers/disk.js';

/** Writes a disk directory as whorl-disk version 3 stored it: a key per block and epoch. */
async function versionThreeDisk(
  dir: string,
  blocks: Array<{ key: string; slot?: number; data?: Buffer }>,
  version = 3,
): Promise<void> {
  const env = open<Buffer, string>({ path: dir, encoding: 'binary' });
  await env.put(
    'meta:format',
    Buffer.from(
      JSON.stringify({
        format: 'whorl-disk',
        version,
        owner: 'server-1',
        capacityBytes: 1 << 20,
        blockBytes: 4096,
        pageSizeBytes: 4096,
      }),
    ),
  );
  const file = fs.openSync(path.join(dir, 'blocks'), 'w+');
  for (const { key, slot, data } of blocks) {
    if (slot === undefined || !data) {
      await env.put(key, Buffer.alloc(0));
      continue;
    }
    fs.writeSync(file, data, 0, 4096, slot * 4096);
    const entry = Buffer.alloc(8);
    entry.writeUInt32LE(slot, 0);
    entry.writeUInt32LE(crc32c(data), 4);
    await env.put(key, entry);
  }
  fs.closeSync(file);
  await env.close();
}

test('a version-3 disk (a key per block) opens as version 6 (an entry per region) with every block, hole and lost block as it was', async (t) => {
  const dir = temporaryDirectory();
  await versionThreeDisk(dir, [
    { key: 'b:00000007:000000000000:00000000', slot: 0, data: pattern(1) },
    { key: 'b:00000007:000000000011:00000000', slot: 1, data: pattern(2) },
    { key: 'h:00000007:000000000011:00000002', data: undefined },
    { key: 'b:00000007:000000000012:00000001', data: undefined },
    // Data and a hole at the same epoch (a torn trim): version 3 read the data.
    { key: 'b:00000007:000000000005:00000000', slot: 2, data: pattern(3) },
    { key: 'h:00000007:000000000005:00000000', data: undefined },
    { key: 'b:00000007:000000012345:00000003', slot: 3, data: pattern(4) },
  ]);
  const disk = await startDisk({ path: dir, owner: 'server-1', capacityBytes: 1 << 20, create: false });
  const read = async (epoch: number, block: number): Promise<string | number> => {
    const { reply, bytes } = await disk.read(7, epoch, block, 1);
    if (!reply.ok) return reply.message;
    return reply.holes?.length ? 'hole' : bytes[0]!;
  };
  t.is(await read(0, 0), 1);
  t.is(await read(1, 0x11), 2, "an older epoch's data shows through");
  t.is(await read(2, 0x11), 'hole', 'the hole at epoch 2 hides it');
  t.regex(String(await read(1, 0x12)), /block 18 epoch 1 was lost/);
  t.is(await read(0, 5), 3);
  t.is(await read(3, 0x12345), 4);
  t.is(await read(2, 0x12345), 'hole', 'never written below epoch 3');
  t.like(await disk.ask({ op: 'stats' }), { ok: true, allocatedBytes: 5 * 4096 });
  // A new write must not take a slot an upgraded block uses.
  t.like(await disk.write(7, 0, 100, [pattern(9)], true), { ok: true });
  t.is(await read(0, 0), 1);
  t.is(await read(0, 100), 9);
  await disk.stop();

  const env = open<Buffer, string>({ path: dir, encoding: 'binary', readOnly: true });
  t.is(JSON.parse(env.get('meta:format')!.toString()).version, 6);
  t.deepEqual([...env.getKeys({ start: 'b:', end: 'i:' })], [], 'no version-3 key is left');
  t.deepEqual(
    [...env.getKeys({ start: 'r:', end: 'r;' })],
    [
      'r:00000007:0000000000:00000000',
      'r:00000007:0000000001:00000000',
      'r:00000007:0000000001:00000001',
      'r:00000007:0000000001:00000002',
      'r:00000007:0000000006:00000000',
      'r:00000007:0000001234:00000003',
    ],
  );
  await env.close();
});

test('a version-4 disk (region entries without stamps) opens as version 6: its blocks read as stamp zero, and a stamped write replaces them', async (t) => {
  const dir = temporaryDirectory();
  const data = pattern(6);
  // One region entry as version 4 stored it: block 3 of region 0 holds slot 0, 8 bytes a block.
  const legacy = Buffer.alloc(2 + 8);
  legacy.writeUInt16LE(1 << 3, 0);
  legacy.writeUInt32LE(0, 2);
  legacy.writeUInt32LE(crc32c(data), 6);
  await versionThreeDisk(dir, [], 4);
  const env = open<Buffer, string>({ path: dir, encoding: 'binary' });
  await env.put('r:00000007:0000000000:00000000', legacy);
  await env.close();
  const file = fs.openSync(path.join(dir, 'blocks'), 'r+');
  fs.writeSync(file, data, 0, 4096, 0);
  fs.closeSync(file);

  const disk = await startDisk({ path: dir, owner: 'server-1', capacityBytes: 1 << 20, create: false });
  t.teardown(() => disk.stop());
  const read = await disk.read(7, 0, 3, 1, true);
  t.deepEqual(read.reply, { ok: true, holes: [], stamps: [{ term: 0, seq: 0 }], epochs: [0] });
  t.is(read.bytes[0], 6);
  t.like(await disk.write(7, 0, 3, [pattern(7)], true, { group: 'group-0', term: 1 }, 1), { ok: true });
  t.deepEqual((await disk.read(7, 0, 3, 1, true)).reply, {
    ok: true,
    holes: [],
    stamps: [{ term: 1, seq: 1 }],
    epochs: [0],
  });
  await disk.stop();
  const after = open<Buffer, string>({ path: dir, encoding: 'binary', readOnly: true });
  t.is(JSON.parse(after.get('meta:format')!.toString()).version, 6);
  t.is(after.get('r:00000007:0000000000:00000000')!.length, 2 + 18, 'rewritten stamped when changed');
  await after.close();
});
