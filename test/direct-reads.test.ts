import test, { type ExecutionContext } from 'ava';
import { Command, Errno } from '../src/nbd/protocol.js';
import { blockBytes } from '../src/storage/block-keys.js';
import { VolumeCatalog } from '../src/volumes/volume-catalog.js';
import { RawClient } from './helpers/raw-client.js';
import { servedCluster } from './helpers/served-cluster.js';

const lanes = 4;
const rounds = 400;
/** Blocks each lane overwrites in turn: every read follows a write of the same block. */
const blocksPerLane = 8;

function payload(lane: number, round: number): Buffer {
  const bytes = Buffer.alloc(blockBytes);
  for (let at = 0; at < bytes.length; at += 8) bytes.writeUInt32BE(lane * 1_000_003 + round * 7919 + at, at);
  return bytes;
}

/**
 * Runs `lanes` NBD connections at once; each writes `rounds` times and reads right after each
 * answered write (what `step` says), and counts the reads that did not show what it expected.
 */
async function writeThenReadLanes(
  t: ExecutionContext,
  port: number,
  rounds: number,
  step: (
    lane: number,
    round: number,
  ) => { write: { offset: number; data: Buffer }; read: { offset: number; expected: Buffer } },
): Promise<number> {
  let stale = 0;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const client = await RawClient.connect(port);
      t.teardown(() => client.destroy());
      await client.go();
      for (let round = 0; round < rounds; round++) {
        const { write, read } = step(lane, round);
        client.request(Command.Write, { cookie: BigInt(round), offset: write.offset, payload: write.data });
        const written = await client.reply();
        if (written?.kind !== 'simple' || written.error !== Errno.OK)
          throw new Error(`write ${round} of lane ${lane} failed`);
        client.request(Command.Read, { cookie: BigInt(round), offset: read.offset, length: read.expected.length });
        const answer = await client.reply();
        if (answer?.kind !== 'simple' || answer.error !== Errno.OK)
          throw new Error(`read ${round} of lane ${lane} failed`);
        if (!(await client.mustRead(read.expected.length)).equals(read.expected)) stale += 1;
      }
    }),
  );
  return stale;
}

// The front end reads the disks on its own thread (src/storage/direct-reads.ts) while a disk answers
// writes before lmdb-js commits them: a read right after its write's answer must still see it.
test('a read right after a write answered sees the write, while most reads are served on the front end thread', async (t) => {
  t.timeout(120_000);
  const { cluster, port } = await servedCluster(t, 'whorl-direct-');
  const stale = await writeThenReadLanes(t, port, rounds, (lane, round) => {
    // Lanes write different 64 KiB units, so they land on different servers.
    const offset = (lane * 16 + (round % blocksPerLane)) * blockBytes;
    const data = payload(lane, round);
    return { write: { offset, data }, read: { offset, expected: data } };
  });
  const { served, declined } = cluster.directReads;
  t.log(`direct reads: ${served} served on the front end thread, ${declined} sent to the disk actors`);
  t.is(stale, 0, 'no read returned anything but the write answered just before it');
  t.true(served > 0, 'some reads were served on the front end thread');
});

// A whole 64 KiB stripe unit (one piece of 16 blocks) is read on the front end's thread too, and
// must show the write of any one of its blocks answered just before.
test('a whole stripe unit read right after a write of one of its blocks sees it, served on the front end thread', async (t) => {
  t.timeout(120_000);
  const { cluster, port } = await servedCluster(t, 'whorl-direct-');
  const unitBytes = 16 * blockBytes;
  const expected = Array.from({ length: lanes }, () => Buffer.alloc(unitBytes));
  const stale = await writeThenReadLanes(t, port, rounds / 2, (lane, round) => {
    const block = (round * 5) % 16;
    const data = payload(lane, round);
    data.copy(expected[lane]!, block * blockBytes);
    return {
      write: { offset: lane * unitBytes + block * blockBytes, data },
      read: { offset: lane * unitBytes, expected: expected[lane]! },
    };
  });
  const { served, declined } = cluster.directReads;
  t.log(`whole-unit reads: ${served} served on the front end thread, ${declined} sent to the disk actors`);
  t.is(stale, 0, 'every unit read showed every write answered before it');
  t.true(served > 0, 'some 16-block reads were served on the front end thread');
});

// A read learns its holes with its data: each run of blocks alike is one extent, read directly or not.
test('a read of written blocks and holes reports one extent per run, and the data', async (t) => {
  const { cluster } = await servedCluster(t, 'whorl-direct-');
  const backend = new VolumeCatalog(cluster.router, cluster.runtime.pool).open('default')!;
  const pool = cluster.runtime.pool;
  const written = [1, 2, 5, 9, 10, 11];
  for (const block of written) await backend.write(block * blockBytes, payload(block, 0), false);
  await backend.flush();
  for (const round of ['after the flush', 'again']) {
    const lease = await pool.lease(16 * blockBytes);
    try {
      const extents = await backend.readSparse!(0, lease.bytes);
      t.deepEqual(
        extents.map((extent) => [extent.lengthBytes / blockBytes, extent.hole]),
        [
          [1, true],
          [2, false],
          [2, true],
          [1, false],
          [3, true],
          [3, false],
          [4, true],
        ],
        round,
      );
      for (let block = 0; block < 16; block++) {
        const expected = written.includes(block) ? payload(block, 0) : Buffer.alloc(blockBytes);
        t.true(
          lease.bytes.subarray(block * blockBytes, (block + 1) * blockBytes).equals(expected),
          `block ${block} ${round}`,
        );
      }
    } finally {
      pool.release(lease.handle);
    }
  }
  const whole = await pool.lease(16 * blockBytes);
  t.teardown(() => pool.release(whole.handle));
  await backend.write(0, Buffer.alloc(16 * blockBytes, 7), false);
  t.deepEqual(
    await backend.readSparse!(0, whole.bytes),
    [{ lengthBytes: 16 * blockBytes, hole: false, zero: false }],
    'a unit with no holes is one extent',
  );
});
